"""Sphinx configuration of lmeformula's documentation site.

Build it from the repository root (docs/README.md):

    pip install -e ".[docs]" && python -m sphinx -W --keep-going -n -b html docs docs/_build/html

The stored notebooks (``notebooks/``, reached through the ``docs/notebooks`` link) are
rendered as they were executed, never run again (``nb_execution_mode = "off"``).
"""

from __future__ import annotations

import lmeformula

project = "lmeformula"
author = "The lmeformula developers"
copyright = "The lmeformula developers"
version = release = lmeformula.__version__

extensions = [
    "myst_nb",  # Markdown pages (MyST) and the stored notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = [
    "_build",
    "README.md",  # how to build this site, for the repository's reader
    "notebooks/.ipynb_checkpoints",
    "**/.ipynb_checkpoints",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
templates_path = ["_templates"]

# -- Markdown and notebooks -------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist"]
# Headings get anchors, so that pages link to one another's sections ([text](page.md#anchor)).
myst_heading_anchors = 3
# The notebooks are shown as stored (executed, with their outputs), never run again.
nb_execution_mode = "off"

# -- API reference ----------------------------------------------------------------------------

autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False  # the class template lists the members instead
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every documented object must exist: a cross-reference that resolves nowhere is an error.
nitpicky = True
# Types of other packages, named in the docstrings without an intersphinx inventory (the
# build needs no network).
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|pandas|pd|scipy|matplotlib|statsmodels|dask|distributed|joblib)\..*"),
]

# -- HTML -------------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"lmeformula {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
}
html_static_path: list[str] = []
