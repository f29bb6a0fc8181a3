"""Resolve cross-references to objects that the API pages document under their re-exported name.

The API reference documents each package's public names where users import them
(``wsss.data.rgb_to_label``), while docstrings naturally name them where they are defined
(``wsss.data.palette.rgb_to_label``) or, inside that module, without a prefix
(``:data:`DEFAULT_ACTIVE_CLASSES```). Autodoc already registers a class under both names (its
``:canonical:`` option); this extension does the same, at reference time, for functions and data:

1. an unresolved reference ``a.b.c.name`` resolves to ``a.b.name`` (or ``a.name``) when that name
   is documented and is the very same object (checked by importing both);
2. an unresolved unqualified ``name`` written in the docstring of an object documented as
   ``pkg.Obj`` is first looked up in the module that *defines* ``Obj``, then as in rule 1;
3. ``:mod:`a.b.c``` for an undocumented submodule links to its nearest documented package, whose
   page lists the submodule's public names;
4. a reference to a :class:`typing.TypeVar` (``ArrayT`` in ``harmonic_mean(a: ArrayT, ...)``)
   is shown as plain text: a type variable has no page to link to.

Nothing is resolved by name similarity alone, so a genuinely wrong reference still fails the
nitpicky build.
"""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

_MISSING = object()


def _import(dotted: str) -> Any:
    """The object at a dotted path (module, then attributes), or ``_MISSING``."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _documented_aliases(full_name: str, documented: dict[str, Any]) -> list[str]:
    """Documented names ``parent.name`` of ancestors of ``full_name`` bound to the same object."""
    target = _import(full_name)
    if target is _MISSING:
        return []
    module, _, name = full_name.rpartition(".")
    aliases = []
    while "." in module:
        module = module.rpartition(".")[0]
        alias = f"{module}.{name}"
        if alias in documented and _import(alias) is target:
            aliases.append(alias)
    return aliases


def _defining_module(context_module: str | None, context_class: str | None) -> str | None:
    """The module that defines the object whose docstring holds the reference."""
    if not context_module:
        return None
    if context_class:
        owner = _import(f"{context_module}.{context_class.split('.')[0]}")
        module = getattr(owner, "__module__", None)
        if isinstance(module, str):
            return module
    return context_module


def resolve_reexport(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.reference | None:
    if node.get("refdomain") != "py":
        return None
    domain = env.domains.python_domain
    documented = domain.objects
    target = node["reftarget"].lstrip("~.")
    role = node["reftype"]

    if role == "mod":
        module = target
        while "." in module:
            module = module.rpartition(".")[0]
            if module in domain.modules and _import(target) is not _MISSING:
                return domain.resolve_xref(
                    env, node["refdoc"], app.builder, "mod", module, node, contnode
                )
        return None

    if isinstance(_import(target), TypeVar):
        return contnode

    candidates = [target]
    if "." not in target:
        home = _defining_module(node.get("py:module"), node.get("py:class"))
        if home:
            candidates.insert(0, f"{home}.{target}")
    for full_name in candidates:
        exact = [full_name] if full_name in documented and full_name != target else []
        for alias in exact + _documented_aliases(full_name, documented):
            ref = domain.resolve_xref(
                env, node["refdoc"], app.builder, role, alias, node, contnode
            )
            if ref is not None:
                return ref
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", resolve_reexport)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
