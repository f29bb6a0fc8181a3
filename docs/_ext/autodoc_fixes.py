"""Two small corrections to what autodoc and napoleon produce for the ``wsss`` sources.

1. **Attribute comments are prose.** Napoleon reads the first line of an attribute, data or
   property docstring as ``type: description`` when it holds a colon, so the comment
   ``#: DeepLab v1 (Chen et al., ICLR 2015) defaults: Gaussian sxy 3 ...`` would render
   "DeepLab v1 (Chen et al., ICLR 2015) defaults" as a (broken) type. ``wsss`` never uses that
   convention (types come from annotations), so these docstrings bypass napoleon (kept before it
   runs, put back after), unless a property's docstring has NumPy sections for napoleon to
   convert.
2. **Dataclass fields with a default factory.** ``inspect.signature`` shows their default as
   ``<factory>``, which is not Python, so Sphinx cannot parse the signature and splits it on
   commas (``Mapping[str, Tensor]`` becomes the broken references ``Mapping[str`` and
   ``Tensor]``). The signature shows the factory call instead: ``= dict()``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from sphinx.application import Sphinx

_FACTORY = "<factory>"


_PROSE = ("attribute", "data", "property")
_SECTION_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_kept: dict[tuple[str, str], list[str]] = {}


def keep_attribute_docs(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what in _PROSE and not any(_SECTION_UNDERLINE.match(line) for line in lines):
        _kept[what, name] = list(lines)


def restore_attribute_docs(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what in _PROSE and (what, name) in _kept:
        lines[:] = _kept.pop((what, name))


def dataclass_factories(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    if what != "class" or not signature or _FACTORY not in signature:
        return None
    if not dataclasses.is_dataclass(obj):
        return None
    for field in dataclasses.fields(obj):
        if field.init and field.default_factory is not dataclasses.MISSING:
            factory = getattr(field.default_factory, "__name__", "")
            shown = f"{factory}()" if factory.isidentifier() else "..."
            signature = signature.replace(_FACTORY, shown, 1)
    return signature, return_annotation


def setup(app: Sphinx) -> dict[str, Any]:
    # napoleon listens with the default priority 500: keep before it, restore after it
    app.connect("autodoc-process-docstring", keep_attribute_docs, priority=450)
    app.connect("autodoc-process-docstring", restore_attribute_docs, priority=550)
    app.connect("autodoc-process-signature", dataclass_factories)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
