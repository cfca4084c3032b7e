"""Package-level behaviour: version, lazy subpackages, no side effects on import."""

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

import remadom


def _python(code: str, **env) -> str:
    """Run ``code`` in a fresh interpreter; return its stdout (the test fails on a non-zero exit)."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **env})
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_version_from_metadata():
    assert remadom.__version__ == version("remadom")


def test_import_does_not_load_heavy_dependencies():
    code = (
        "import sys, json\n"
        "import remadom, remadom.cli, remadom.config\n"
        "heavy = ('scvi', 'torch', 'lightning', 'scanpy', 'squidpy', 'torch_geometric')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    assert json.loads(_python(code)) == []


def test_subpackages_load_on_first_use():
    from remadom.model import URMF

    assert remadom.model.URMF is URMF
    assert {"data", "model", "pl", "pp", "tl"} <= set(dir(remadom))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        remadom.nope  # noqa: B018


def test_import_leaves_matplotlib_backend_alone(tmp_path):
    """``svg`` runs headless and is not Agg, the backend remadom used to force."""
    png = tmp_path / "domains.png"
    code = (
        "import json, matplotlib, numpy as np, anndata as ad, pandas as pd\n"
        "before = matplotlib.get_backend()\n"
        "import remadom, remadom.pl\n"
        "after_import = matplotlib.get_backend()\n"
        "a = ad.AnnData(np.zeros((6, 2), dtype=np.float32))\n"
        "a.obsm['spatial'] = np.arange(12, dtype=float).reshape(6, 2)\n"
        "a.obs['domain'] = pd.Categorical(list('aabbcc'))\n"
        f"remadom.pl.domains(a, 'domain', save={str(png)!r})\n"
        "print(json.dumps([before, after_import, matplotlib.get_backend()]))\n"
    )
    before, after_import, after_plot = json.loads(_python(code, MPLBACKEND="svg"))
    assert before.lower() == "svg"
    assert after_import == before and after_plot == before
    assert png.stat().st_size > 0
