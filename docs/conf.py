"""Sphinx configuration of the scratchmlp documentation.

Build from the repository root (it runs the gallery examples: one to two
minutes on a busy two-core machine):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Without running the examples (quick check of the pages and the API):

    python -m sphinx -W --keep-going -b html -D plot_gallery=0 docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
import warnings

# The gallery's fits are small: threaded BLAS only slows them, many times over
# on a busy machine. Set before numpy is first imported (just below).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# scipy reads SCIPY_ARRAY_API once, on its first import (just below, through
# scratchmlp); scikit-learn's array API dispatch wants it set. The gallery
# runs every example in this process, so the line at the top of
# examples/plot_array_api.py comes after scipy's import: set here, scipy runs
# the example as it would a script. (scikit-learn itself only checks that the
# variable is set when dispatch is switched on, so the build passes without
# this line too.) numpy results are the same either way
# (tests/test_recorded_behaviour.py runs with it set, as CI does).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Document the source tree itself, installed or not.
sys.path.insert(0, os.path.join(ROOT, "src"))

from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)

import scratchmlp  # noqa: E402
import scratchmlp.engine  # noqa: E402

threadpool_limits(1)  # in case numpy was imported, and its BLAS started, before this file

# -- Project -----------------------------------------------------------------
project = "scratchmlp"
author = "the scratchmlp developers"
copyright = "the scratchmlp developers, BSD-3-Clause"
release = scratchmlp.__version__
version = release

# -- General -----------------------------------------------------------------
extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "**/README.md",
    "sg_execution_times.rst",
]
# Source files are read from the repository (literalinclude, autodoc): a
# changed source file must rebuild the pages that include it.
templates_path: list[str] = []
default_role = "literal"

# -- MyST (the .md pages) ----------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc + numpydoc -------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's "Parameters" sections carry the types
numpydoc_show_class_members = False  # members are listed explicitly in api/*.rst
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery (examples/plot_*.py) -------------------------------------
# Only the plot_*.py scripts are in the gallery, and run: ignore_pattern leaves
# out every other script of examples/ (quickstart.py, a grid search of about a
# minute, and the like). Each plot_* script should run in a few seconds.
sphinx_gallery_conf = {
    "examples_dirs": os.path.join(ROOT, "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|/)(?!plot_)[^/]*\.py$",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "capture_repr": ("_repr_html_",),
    "min_reported_time": 1,
    "write_computation_times": False,
}

warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"scratchmlp {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"*": []}  # top-level pages have no section navigation: no left sidebar
html_show_sourcelink = True


# -- Checks ---------------------------------------------------------------------
def _check_engine_api(app, env):
    """Warn (an error under -W) for a name of scratchmlp.engine.__all__ missing from the API page.

    The engine is public: whatever it exports must be documented in
    docs/api/engine.rst, so that the reference cannot silently fall behind.
    """
    objects = env.get_domain("py").objects
    missing = [
        name for name in scratchmlp.engine.__all__ if f"scratchmlp.engine.{name}" not in objects
    ]
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "scratchmlp.engine exports %s, which docs/api/engine.rst does not document.",
            ", ".join(missing),
            location="api/engine",
        )


def setup(app):
    app.connect("env-check-consistency", _check_engine_api)
