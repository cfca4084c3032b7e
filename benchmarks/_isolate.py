"""Run one benchmark function in its own process: wall time, peak memory, failures recorded."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import resource
import sys
import traceback
import warnings
from pathlib import Path


def _peak_gb() -> float:
    """This process's peak resident memory (GB).

    Linux: ``VmHWM`` of ``/proc/self/status``, the high-water mark of this process's own address
    space. ``ru_maxrss`` is not used there, because the kernel carries it over from the parent
    through fork and exec: a spawned child of a parent that once held 3 GB reports at least 3 GB
    (seen here when ``scale.py`` built its input files in the parent). Elsewhere ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2  # kB -> GB
    except OSError:
        pass
    scale = 1024**3 if sys.platform == "darwin" else 1024**2  # bytes on macOS, kB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _child(module: str, fn_name: str, args: tuple, q, mem_limit_gb: float) -> None:
    warnings.filterwarnings("ignore")
    # cap the address space so that a huge allocation fails with MemoryError instead of sending
    # the machine into the OOM killer
    lim = int(mem_limit_gb * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        out = getattr(importlib.import_module(module), fn_name)(*args)
        status = "ok"
    except BaseException as err:  # noqa: BLE001 - record any failure (MemoryError, OOM, ...)
        out, status = float("nan"), f"failed: {type(err).__name__}: {str(err)[:120]}"
        traceback.print_exc()
    q.put((out, status, _peak_gb()))


def measure(module: str, fn_name: str, args: tuple, timeout: float, mem_limit_gb: float = 20.0) -> dict:
    """Call ``module.fn_name(*args)`` in a fresh spawned process.

    Returns
    -------
    ``{"result": return value (seconds, or a dict), "status": "ok" | reason, "peak_gb": peak RSS}``.
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(module, fn_name, args, q, mem_limit_gb))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
        return {"result": float("nan"), "status": f"timeout > {timeout} s", "peak_gb": float("nan")}
    if q.empty():
        return {"result": float("nan"), "status": f"killed (exit {p.exitcode}; out of memory?)",
                "peak_gb": float("nan")}
    out, status, peak = q.get()
    return {"result": out, "status": status, "peak_gb": peak}
