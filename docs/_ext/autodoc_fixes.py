"""Small corrections to what autodoc and napoleon produce for the ``wsss`` sources.

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
3. **Private parameters stay private.** A keyword parameter with a leading underscore (such as
   the one :meth:`wsss.CAMExtractor.from_classifier` uses to hand its class-map function to the
   constructor) is an implementation detail: it is left out of the rendered signature.
4. **Protocols have no constructor.** ``typing.Protocol`` classes are shown without the
   ``(*args, **kwargs)`` that ``Protocol.__init__`` would give them.
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


def _dataclass_factories(obj: Any, signature: str) -> str:
    if _FACTORY not in signature or not dataclasses.is_dataclass(obj):
        return signature
    for field in dataclasses.fields(obj):
        if field.init and field.default_factory is not dataclasses.MISSING:
            factory = getattr(field.default_factory, "__name__", "")
            shown = f"{factory}()" if factory.isidentifier() else "..."
            signature = signature.replace(_FACTORY, shown, 1)
    return signature


def _split_parameters(inner: str) -> list[str]:
    """``inner`` (a signature without its parentheses) split at its top-level commas."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(inner):
        if quote:
            quote = "" if char == quote and inner[i - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    parts.append(inner[start:].strip())
    return [part for part in parts if part]


def _without_private_parameters(signature: str) -> str:
    if not (signature.startswith("(") and signature.endswith(")")):
        return signature
    parts = _split_parameters(signature[1:-1])
    kept = [part for part in parts if not part.startswith("_")]
    if len(kept) == len(parts):
        return signature
    if kept and kept[-1] == "*":  # a bare star with no keyword parameter left after it
        kept.pop()
    return "(" + ", ".join(kept) + ")"


def clean_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    # one handler for all fixes: autodoc keeps the first handler's answer that is not None
    if not signature:
        return None
    if what == "class" and getattr(obj, "_is_protocol", False):
        return "", return_annotation
    cleaned = _without_private_parameters(signature)
    if what == "class":
        cleaned = _dataclass_factories(obj, cleaned)
    return (cleaned, return_annotation) if cleaned != signature else None


def setup(app: Sphinx) -> dict[str, Any]:
    # napoleon listens with the default priority 500: keep before it, restore after it
    app.connect("autodoc-process-docstring", keep_attribute_docs, priority=450)
    app.connect("autodoc-process-docstring", restore_attribute_docs, priority=550)
    app.connect("autodoc-process-signature", clean_signature)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
