"""Every public function and class of every ``wsss`` module shows a runnable ``>>>`` example.

The API reference documents what each module's ``__all__`` exports; this test walks the whole
package (:func:`pkgutil.walk_packages`) so that a new module or a new public name without an
example fails here, with one test case per name. Names re-exported from another module are
checked once, in the module that defines them. The examples themselves run under
``python -m pytest --doctest-modules wsss``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import wsss

#: Public names that cannot show an example, as ``"module.name"``, each with its reason in a
#: comment. Keep it empty: every function and class so far has one.
ALLOWED_WITHOUT_EXAMPLE: frozenset[str] = frozenset()


def _modules() -> list[ModuleType]:
    names = [wsss.__name__]
    names += [info.name for info in pkgutil.walk_packages(wsss.__path__, prefix="wsss.")]
    return [importlib.import_module(name) for name in sorted(names)]


MODULES = _modules()


def _defined_public_names() -> list[str]:
    """``"module.name"`` for each function or class in a module's ``__all__`` defined there."""
    found = []
    for module in MODULES:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and (
                obj.__module__ == module.__name__
            ):
                found.append(f"{module.__name__}.{name}")
    return found


PUBLIC_NAMES = _defined_public_names()


def _resolve(qualified: str) -> object:
    module_name, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_module_has_a_docstring(module: ModuleType) -> None:
    assert (module.__doc__ or "").strip(), f"{module.__name__} has no module docstring"


@pytest.mark.parametrize("qualified", PUBLIC_NAMES)
def test_public_name_has_an_example(qualified: str) -> None:
    if qualified in ALLOWED_WITHOUT_EXAMPLE:
        pytest.skip("listed in ALLOWED_WITHOUT_EXAMPLE")
    doc = inspect.getdoc(_resolve(qualified)) or ""
    assert ">>>" in doc, f"{qualified}: its docstring has no runnable '>>>' example"


def test_the_walk_finds_the_package() -> None:
    # guards against a walk that silently finds nothing (then every parametrized test vanishes)
    modules = {m.__name__ for m in MODULES}
    assert {"wsss", "wsss.cam", "wsss.data.sample", "wsss.models.resnet"} <= modules
    assert "wsss.cam.CAMExtractor" in PUBLIC_NAMES
    assert "wsss.data.sample.VOC_CLASSES" not in PUBLIC_NAMES  # constants need no example


def test_allow_list_names_real_public_names() -> None:
    stale = ALLOWED_WITHOUT_EXAMPLE - set(PUBLIC_NAMES)
    assert not stale, f"ALLOWED_WITHOUT_EXAMPLE lists names that are not public: {sorted(stale)}"
