"""Sphinx configuration (myst-nb for Markdown pages and notebooks)."""

project = "remadom"
author = "remadom developers"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.autosummary"]
napoleon_numpy_docstring = True
autosummary_generate = True
html_theme = "sphinx_book_theme"
nb_execution_mode = "off"
exclude_patterns = ["_build"]
