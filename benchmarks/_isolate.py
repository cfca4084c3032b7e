"""Run one benchmark function in its own process: wall time, peak memory, failures recorded."""

from __future__ import annotations

import importlib
import multiprocessing as mp
import resource
import sys
import traceback
import warnings
from pathlib import Path


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
    q.put((out, status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2))


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
