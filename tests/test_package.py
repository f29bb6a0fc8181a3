"""The public surface: every name importable from ``wsss`` and documented with an example."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import wsss

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_is_documented_with_an_example():
    for name in wsss.__all__:
        obj = getattr(wsss, name)
        if name == "__version__" or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = inspect.getdoc(obj) or ""
        assert ">>>" in doc, f"{name} has no runnable example"
        assert "Parameters" in doc or "Examples" in doc, name


def test_version_is_single_sourced():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'version = { attr = "wsss.__version__" }' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", wsss.__version__)
    assert (ROOT / "wsss" / "py.typed").exists()
