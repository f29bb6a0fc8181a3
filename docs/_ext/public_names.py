"""List every public name in the API reference, including those ``automodule`` misses.

The API pages document each package with ``automodule:: package`` and ``:members:``, which lists
the package's ``__all__``. Two kinds of public names escape it:

- **re-exported constants.** Autodoc documents a module-level constant only when the documented
  module's own source has a ``#:`` comment for it; a package that re-exports a constant
  (``wsss.FIELD_SCALES``, defined with its comment in ``wsss/cam.py``) has none, so the constant
  silently vanishes and every reference to it fails. ``.. autoconstants:: package`` emits
  ``autodata`` for each such constant, and a docstring hook gives it the ``#:`` comment of the
  submodule that binds the same object under the same name;
- **names public in a submodule only** (in the submodule's ``__all__``, not re-exported by the
  package, e.g. ``wsss.cam.evaluating``). ``.. autosubmodules:: package`` lists the package's
  modules with their one-line summaries and documents those names under the module that
  defines them; ``:exclude:`` names modules documented elsewhere. Subpackages are skipped.

Both directives read ``__all__`` at build time, so new names appear without editing the pages.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer, PycodeError
from sphinx.util.docutils import SphinxDirective

#: Values whose ``repr`` is longer are shown without ``= value`` (the comment describes them).
_MAX_VALUE_REPR = 60
_UNSET = object()


def _attr_docs(modname: str) -> dict[tuple[str, str], list[str]]:
    try:
        return ModuleAnalyzer.for_module(modname).find_attr_docs()
    except PycodeError:
        return {}


def _is_constant(value: Any) -> bool:
    return not (inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value))


class AutoConstants(SphinxDirective):
    """``.. autoconstants:: package``: ``autodata`` for the package's re-exported constants."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        own_docs = _attr_docs(modname)
        lines = []
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if name.startswith("__") or not _is_constant(value) or ("", name) in own_docs:
                continue
            lines.append(f".. autodata:: {modname}.{name}")
            if len(repr(value)) > _MAX_VALUE_REPR:
                lines.append("   :no-value:")
            lines.append("")
        if not lines:
            return []
        return self.parse_text_to_nodes("\n".join(lines))


def _autodoc_lines(full_name: str, value: Any) -> list[str]:
    """The autodoc directive that documents ``value`` under ``full_name``."""
    if inspect.isclass(value):
        kind = "autoexception" if issubclass(value, BaseException) else "autoclass"
        return [f".. {kind}:: {full_name}", "   :members:", ""]
    if inspect.isroutine(value):
        return [f".. autofunction:: {full_name}", ""]
    lines = [f".. autodata:: {full_name}"]
    if len(repr(value)) > _MAX_VALUE_REPR:
        lines.append("   :no-value:")
    return [*lines, ""]


def _summary(module: Any) -> str:
    doc = inspect.getdoc(module) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


class AutoSubmodules(SphinxDirective):
    """``.. autosubmodules:: package``: the modules of a package and their unexported names."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"exclude": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        package_name = self.arguments[0]
        package = importlib.import_module(package_name)
        excluded = {name.strip() for name in self.options.get("exclude", "").split(",")}
        listing, extras = [], []
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.ispkg or info.name.startswith("_") or info.name in excluded:
                continue
            modname = f"{package_name}.{info.name}"
            module = importlib.import_module(modname)
            listing += [f".. py:module:: {modname}", "", f":mod:`{modname}`",
                        f"   {_summary(module)}", ""]
            names = []
            for name in getattr(module, "__all__", ()):
                value = getattr(module, name)
                if getattr(package, name, _UNSET) is value:
                    continue  # documented under the package's name
                if (inspect.isclass(value) or inspect.isroutine(value)) and getattr(
                    value, "__module__", modname
                ) != modname:
                    continue  # imported from elsewhere: documented where it is defined
                names.append(name)
            if names:
                extras += [f".. rubric:: Also in :mod:`{modname}`", ""]
                for name in names:
                    extras += _autodoc_lines(f"{modname}.{name}", getattr(module, name))
        return self.parse_text_to_nodes("\n".join(listing + extras))



def _defining_comment(package: str, name: str, obj: Any) -> list[str]:
    """The ``#:`` comment of ``name`` in the submodule of ``package`` that binds ``obj``."""
    for modname, module in sorted(sys.modules.items()):
        if modname.startswith(package + ".") and getattr(module, name, None) is obj:
            comment = _attr_docs(modname).get(("", name))
            if comment:
                return list(comment)
    return []


def add_constant_docs(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what != "data":
        return
    package, _, short = name.rpartition(".")
    comment = _defining_comment(package, short, obj)
    if comment:
        lines[:] = comment
    elif lines and inspect.getdoc(type(obj)) == "\n".join(lines).strip():
        lines[:] = []  # autodoc fell back on the docstring of the value's class


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("autoconstants", AutoConstants)
    app.add_directive("autosubmodules", AutoSubmodules)
    # priority < 500: run before napoleon turns the comment into reST
    app.connect("autodoc-process-docstring", add_constant_docs, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
