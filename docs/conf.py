"""Sphinx configuration of the wsss documentation.

Build (what CI runs): ``python -m sphinx -W --keep-going -q -b html docs docs/_build/html``.
The build needs no network: intersphinx reads the small inventories committed under
``docs/_inventories/`` (regenerate them with ``python docs/_inventories/make_inventories.py``),
and the formulas are typeset by the MathJax copy that ``sphinx-mathjax-offline`` puts into the
built site. ``pip install -e ".[docs]"`` installs everything the build needs.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # document the checkout, installed or not
sys.path.insert(0, str(DOCS / "_ext"))  # local extensions

import wsss  # noqa: E402

project = "wsss"
author = "wsss developers"
copyright = "wsss developers"
release = wsss.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",  # docs/changelog.md includes the Markdown CHANGELOG.md
    "sphinx.ext.mathjax",
    # MathJax served from the built site (_static/mathjax), never a CDN: formulas render offline.
    "sphinx-mathjax-offline",
    "public_names",  # docs/_ext: re-exported constants and submodule-only names are listed
    "reexports",  # docs/_ext: references by defining-module path reach re-exported names
    "autodoc_fixes",  # docs/_ext: prose attribute comments, dataclass default factories
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_inventories", "figures"]
nitpicky = True
nitpick_ignore_regex = [
    # Private helper types (a leading underscore: _Preset, the type of fuse_saliency's sentinel
    # default; _Captured, what capture_output yields) appear in the signatures of public
    # functions but are deliberately not documented, so they cannot be linked.
    ("py:class", r"wsss(\.\w+)*\._\w+"),
]

# -- autodoc and napoleon (NumPy style) ---------------------------------------------------------
autodoc_member_order = "groupwise"  # classes, then functions, then data; A-Z within
autodoc_typehints = "signature"
# Callable objects (CAMExtractor) document how they are called.
autodoc_default_options = {"special-members": "__call__"}
autodoc_preserve_defaults = True
# torch.nn.Module.forward's docstring ("Define the computation performed at every call...")
# would otherwise appear under every undocumented forward() of ours.
autodoc_inherit_docstrings = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Types in "Returns" sections stay plain text: napoleon's type preprocessing splits
# "tuple[str, ...]" into broken references. Types in signatures are linked by autodoc.
napoleon_preprocess_types = False

# -- intersphinx: local inventories only, never a download ---------------------------------------
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", "_inventories/python.inv"),
    "torch": ("https://pytorch.org/docs/stable/", "_inventories/torch.inv"),
    "numpy": ("https://numpy.org/doc/stable/", "_inventories/numpy.inv"),
    "pillow": ("https://pillow.readthedocs.io/en/stable/", "_inventories/pillow.inv"),
}

# -- HTML ----------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"wsss {release}"
html_static_path = ["_static"]
