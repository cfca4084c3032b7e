"""Sphinx configuration: myst-nb for Markdown pages and notebooks, autosummary for the API.

``nox -s docs`` builds with ``-W``, so every warning fails the build.

Intersphinx and the network
---------------------------
Sphinx (9.0) reports an inventory it cannot download as an untyped warning, which no
``suppress_warnings`` entry can silence, so with ``-W`` an offline build with intersphinx
enabled fails. CI and the development machines have no network, so the mapping below is used
only when ``REMADOM_DOCS_INTERSPHINX=1`` is set (``REMADOM_DOCS_INTERSPHINX=1 nox -s docs``);
then a missing inventory fails the build as it should. Without it, references to AnnData,
scvi-tools, PyTorch, ... render as plain text and nothing else changes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "remadom"
author = "remadom developers"
try:
    from importlib.metadata import version as _version

    release = _version("remadom")
except Exception:  # a source tree that is not installed
    release = "unknown"
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "config_schema",  # docs/_ext/config_schema.py: the YAML reference behind docs/config.md
]
napoleon_numpy_docstring = True
napoleon_google_docstring = False
autosummary_generate = True
autodoc_member_order = "bysource"
html_theme = "sphinx_book_theme"
html_title = "remadom"
exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints", "generated/config_schema.md"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# Notebooks are executed by ``nox -s notebooks`` and committed with their outputs; the docs
# render those outputs and never run a cell.
nb_execution_mode = "off"
nb_merge_streams = True

INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
    "mudata": ("https://mudata.readthedocs.io/en/latest/", None),
    "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
    "squidpy": ("https://squidpy.readthedocs.io/en/stable/", None),
    "scvi-tools": ("https://docs.scvi-tools.org/en/stable/", None),
    "torch": ("https://docs.pytorch.org/docs/stable/", None),
    "lightning": ("https://lightning.ai/docs/pytorch/stable/", None),
}
intersphinx_mapping = INTERSPHINX if os.environ.get("REMADOM_DOCS_INTERSPHINX") == "1" else {}

# Tutorials: the notebooks live in ../notebooks (where ``nox -s notebooks`` runs them); copy
# them into the source tree (docs/tutorials/, git-ignored) with an index page listing them.
_NOTEBOOKS = HERE.parent / "notebooks"
_TUTORIALS = HERE / "tutorials"


def _copy_notebooks() -> None:
    shutil.rmtree(_TUTORIALS, ignore_errors=True)
    _TUTORIALS.mkdir()
    books = sorted(_NOTEBOOKS.glob("*.ipynb"))
    for nb in books:
        shutil.copy2(nb, _TUTORIALS / nb.name)
    lines = ["# Tutorials", ""]
    if books:
        lines += ["Executed notebooks, rendered with their committed outputs.", "",
                  "```{toctree}", ":maxdepth: 1", "", *[nb.stem for nb in books], "```", ""]
    else:
        lines += ["No tutorial notebooks yet (they go in `notebooks/`).", ""]
    (_TUTORIALS / "index.md").write_text("\n".join(lines))


_copy_notebooks()


def _drop_type_docstrings(app, what, name, obj, options, lines) -> None:
    """A module constant without a ``#:`` comment gets no docstring rather than its type's."""
    doc = type(obj).__doc__
    if what in ("data", "attribute") and not isinstance(obj, type) and lines and doc:
        if lines[0].strip() == doc.strip().splitlines()[0].strip():
            lines.clear()


_LITERAL = re.compile(r"``.+?``")


def _guard_literal_periods(app, what, name, obj, options, lines) -> None:
    """Keep autosummary from ending a summary inside an inline literal.

    Autosummary cuts the summary at the first period followed by a space, also inside
    ````a -> ... -> b````, which leaves an unclosed literal (a docutils warning). A zero-width
    space after such periods (first paragraph only) is invisible and is not a split point.
    """
    for i, line in enumerate(lines):
        if not line.strip():
            break
        lines[i] = _LITERAL.sub(lambda m: re.sub(r"\.(?=\s)", ".\u200b", m.group()), line)


def setup(app) -> None:
    app.connect("autodoc-process-docstring", _drop_type_docstrings)
    app.connect("autodoc-process-docstring", _guard_literal_periods)
