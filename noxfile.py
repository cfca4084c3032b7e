"""Nox sessions: ``tests``, ``demo``, ``docs``, ``notebooks``, ``lint``, ``bench``.

Every session installs the CPU wheel of PyTorch first (``torch==2.13.0``): an unpinned ``torch``
pulls a multi-GB CUDA build.
"""

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
TORCH = "torch==2.13.0"


def _install(session: nox.Session, extras: str = "dev") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Default test suite (runs on a fresh clone; real-data tests skip without ../shared/data)."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def tests_slow(session: nox.Session) -> None:
    """Slow real-data tests only."""
    _install(session)
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Train URMF on the bundled real data, cluster, score and plot (``remadom demo``)."""
    _install(session)
    session.run("remadom", "demo", "--outdir", "remadom_demo", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """HTML docs with warnings as errors (``docs/_build/html``); notebooks are rendered, not run.

    Intersphinx links need the network: ``REMADOM_DOCS_INTERSPHINX=1 nox -s docs`` (see docs/conf.py).
    """
    _install(session, "dev,docs")
    session.run("sphinx-build", "-W", "-b", "html", "docs", "docs/_build/html", *session.posargs)


@nox.session(python=PYTHON)
def notebooks(session: nox.Session) -> None:
    """Re-execute the tutorials in ``notebooks/`` in place (outputs and figures are committed).

    A failing cell fails the session. The URMF and STEREOMM tutorials need only the data bundled
    in the package; the ones in ``_NEED_SHARED_DATA`` read ``../shared/data`` (or
    ``$REMADOM_SHARED_DATA``) and are skipped, with a message, when it is absent.
    ``nox -s notebooks -- notebooks/NAME.ipynb`` runs the ones given.
    """
    _install(session, "dev,bench")  # bench: scib-metrics for iLISI in mosaicvi_problems
    session.install("nbclient", "nbformat", "ipykernel")
    books = session.posargs or sorted(str(p) for p in Path("notebooks").glob("*.ipynb"))
    shared = Path(os.environ.get("REMADOM_SHARED_DATA", Path("..") / "shared" / "data"))
    for book in books:
        if Path(book).name in _NEED_SHARED_DATA and not shared.is_dir():
            session.warn(f"skipping {book}: it reads {shared} (set REMADOM_SHARED_DATA), not found")
            continue
        session.log(f"executing {book}")
        env = {"REMADOM_SHARED_DATA": str(shared.resolve())} if shared.is_dir() else {}
        session.run("python", "-c", _EXECUTE_NOTEBOOK, book, env=env)


# tutorials that read the real data of ../shared/data (not bundled in the package)
_NEED_SHARED_DATA = {
    "mosaicvi_mosaic_imputation.ipynb",  # midas_pbmc_mosaic.h5mu
    "mosaicvi_problems.ipynb",  # midas_pbmc_mosaic.h5mu
    "priorvi_priors.ipynb",  # midas_pbmc_mosaic.h5mu
    "morphovi_morph_ephys.ipynb",  # patchseq_m1_morph_ephys.h5ad
}

# run in the session's environment: execute one notebook in its own folder and write it back, with
# each cell's consecutive stream outputs merged and progress-bar redraws (carriage returns) reduced
# to the line a terminal would show, so that a training bar is one line, not a thousand
_EXECUTE_NOTEBOOK = """
import sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient
path = Path(sys.argv[1])
nb = nbformat.read(path, as_version=4)
t0 = time.time()
NotebookClient(nb, timeout=3600, kernel_name="python3",
               resources={"metadata": {"path": str(path.parent)}}).execute()
for cell in nb.cells:
    outs = []
    for o in cell.get("outputs", []):
        if (o.output_type == "stream" and outs and outs[-1].output_type == "stream"
                and outs[-1].name == o.name):
            outs[-1].text += o.text
        else:
            outs.append(o)
    for o in outs:
        if o.output_type == "stream":
            o.text = "\\n".join(ln.rstrip("\\r").split("\\r")[-1] for ln in o.text.split("\\n"))
    if cell.cell_type == "code":
        cell.outputs = outs
nbformat.write(nb, path)
print(f"{path}: executed in {time.time() - t0:.0f} s")
"""


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "benchmarks")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Speed/memory benchmarks: URMF vs SpatialGlue, MOSAICVI vs TOTALVI/MULTIVI, heads per step,
    STEREOMM time/memory to 100k spots.

    ``nox -s bench -- urmf`` (or ``mosaicvi``, ``heads``, ``stereomm``) runs one; default all.
    ``nox -s bench -- spatial_domains`` (not in the default set) runs the side-by-side spatial-domain
    benchmark against BANKSY, GraphST, STAGATE, SpaGCN, CellCharter and SpatialGlue.
    The real-data evidence scripts (``benchmarks/*_real_data.py``) need ../shared/data and are
    run by hand (commands in benchmarks/README.md).
    """
    _install(session, "dev,bench")
    session.install("--no-deps", "SpatialGlue")
    # spatial-domain peers for benchmarks/spatial_domains.py (their pins leave torch alone)
    session.install("pybanksy==1.3.5", "graphst-modern==1.1.1.post3", "stagate-modern==1.0.0.post1",
                    "spagcn-modern==1.4.1", "cellcharter==0.3.7")
    which = session.posargs or ["urmf", "mosaicvi", "heads", "stereomm"]
    scripts = {"urmf": ["benchmarks/urmf_vs_spatialglue.py"], "mosaicvi": ["benchmarks/mosaicvi_vs_scvi.py"],
               "heads": ["benchmarks/heads.py"],
               "stereomm": ["benchmarks/stereomm_real_data.py", "--only", "speed"],
               "spatial_domains": ["benchmarks/spatial_domains.py"]}  # needs ../shared/data
    for name in which:
        session.run("python", *scripts[name])
