"""Write the small intersphinx inventories the documentation links against, offline.

The docs build must not touch the network, so ``docs/conf.py`` points intersphinx at the
files this script writes next to itself instead of downloading the projects' ``objects.inv``:

- ``python.inv`` for https://docs.python.org/3/
- ``torch.inv`` for https://pytorch.org/docs/stable/
- ``numpy.inv`` for https://numpy.org/doc/stable/
- ``pillow.inv`` for https://pillow.readthedocs.io/en/stable/

Each lists only the objects that the ``wsss`` docstrings and type hints reference, with the URL
of their real documentation page. Run it after a docstring starts referencing a new external
object (the build's nitpicky mode names it: ``py:class reference target not found: ...``), add
the entry below, and commit the regenerated ``.inv`` files::

    python docs/_inventories/make_inventories.py

Format: Sphinx inventory version 2 (four plain header lines, then zlib-compressed lines
``name domain:role priority uri display-name``). In ``uri`` a trailing ``$`` stands for the
name, so ``tensors.html#$`` means ``tensors.html#torch.Tensor``; a display name ``-`` means "the
name itself".

Aliases: autodoc writes type hints with the module an object is *defined* in
(``torch.nn.modules.module.Module`` for ``nn.Module``, ``numpy.random._generator.Generator``
for ``np.random.Generator``), while the projects document the public name. The real
inventories of those projects do not list such private paths, so entries below map them to the
public page and show the public name.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from anywhere in a checkout

from wsss.io import atomic_write  # noqa: E402

#: One inventory entry: ``(name, domain:role, uri, display name or "-")``.
Entry = tuple[str, str, str, str]

PY_DOCS = [
    # built-in types and constants (Sphinx already silences nitpicky warnings for them; the
    # entries turn them into links)
    *[(name, "py:class", "library/functions.html#$", "-") for name in
      ("int", "float", "bool", "object", "slice", "type")],
    *[(name, "py:class", "library/stdtypes.html#$", "-") for name in
      ("str", "bytes", "tuple", "list", "dict", "set", "frozenset", "range")],
    ("None", "py:data", "library/constants.html#$", "-"),
    ("True", "py:data", "library/constants.html#$", "-"),
    ("False", "py:data", "library/constants.html#$", "-"),
    ("NotImplemented", "py:data", "library/constants.html#$", "-"),
    *[(name, "py:exception", "library/exceptions.html#$", "-") for name in (
        "Exception", "ValueError", "TypeError", "RuntimeError", "KeyError", "IndexError",
        "OSError", "FileNotFoundError", "FileExistsError", "EOFError", "ImportError",
        "ModuleNotFoundError", "NotImplementedError", "KeyboardInterrupt", "StopIteration",
    )],
    ("pickle.UnpicklingError", "py:exception", "library/pickle.html#$", "-"),
    ("zipfile.BadZipFile", "py:exception", "library/zipfile.html#$", "-"),
    # collections.abc
    *[(f"collections.abc.{name}", "py:class", "library/collections.abc.html#$", "-") for name in (
        "Callable", "Collection", "Container", "Generator", "Hashable", "Iterable", "Iterator",
        "Mapping", "MutableMapping", "MutableSequence", "Sequence", "Set", "Sized",
    )],
    # os, pathlib, io and friends
    ("os.PathLike", "py:class", "library/os.html#$", "-"),
    ("os.replace", "py:function", "library/os.html#$", "-"),
    ("os.fspath", "py:function", "library/os.html#$", "-"),
    ("os.cpu_count", "py:function", "library/os.html#$", "-"),
    ("pathlib.Path", "py:class", "library/pathlib.html#$", "-"),
    ("pathlib.PurePath", "py:class", "library/pathlib.html#$", "-"),
    ("tempfile.mkstemp", "py:function", "library/tempfile.html#$", "-"),
    ("typing.IO", "py:class", "library/typing.html#$", "-"),
    ("io.TextIOWrapper", "py:class", "library/io.html#$", "-"),
    # functional tools, context managers, data classes, enums
    ("functools.partial", "py:function", "library/functools.html#$", "-"),
    ("contextlib.AbstractContextManager", "py:class", "library/contextlib.html#$", "-"),
    ("contextlib.nullcontext", "py:function", "library/contextlib.html#$", "-"),
    ("dataclasses.replace", "py:function", "library/dataclasses.html#$", "-"),
    ("dataclasses.asdict", "py:function", "library/dataclasses.html#$", "-"),
    ("enum.Enum", "py:class", "library/enum.html#$", "-"),
    # typing (Sphinx silences these too; the entries make them links)
    ("typing.Any", "py:data", "library/typing.html#$", "-"),
    ("typing.Literal", "py:data", "library/typing.html#$", "-"),
    ("typing.Protocol", "py:class", "library/typing.html#$", "-"),
    ("typing.TypeVar", "py:class", "library/typing.html#$", "-"),
    ("typing.runtime_checkable", "py:function", "library/typing.html#$", "-"),
    # processes, logging, serialisation
    ("multiprocessing.pool.Pool", "py:class", "library/multiprocessing.html#$", "-"),
    ("concurrent.futures.ProcessPoolExecutor", "py:class",
     "library/concurrent.futures.html#$", "-"),
    ("logging.Logger", "py:class", "library/logging.html#$", "-"),
    ("json.dumps", "py:function", "library/json.html#$", "-"),
    ("argparse.ArgumentParser", "py:class", "library/argparse.html#$", "-"),
    ("argparse.Namespace", "py:class", "library/argparse.html#$", "-"),
    ("random.Random", "py:class", "library/random.html#$", "-"),
]

TORCH_DOCS = [
    ("torch.Tensor", "py:class", "tensors.html#$", "-"),
    ("torch.dtype", "py:class", "tensor_attributes.html#$", "-"),
    ("torch.device", "py:class", "tensor_attributes.html#$", "-"),
    ("torch.Size", "py:class", "size.html#$", "-"),
    ("torch.Generator", "py:class", "generated/torch.Generator.html#$", "-"),
    ("torch.autocast", "py:class", "amp.html#$", "-"),
    ("torch.no_grad", "py:class", "generated/torch.no_grad.html#$", "-"),
    *[(f"torch.{name}", "py:function", f"generated/torch.{name}.html#$", "-") for name in
      ("load", "save", "manual_seed", "set_num_threads", "compile", "where", "bincount")],
    # torch.nn: public names, then the defining-module paths that autodoc writes
    ("torch.nn.Module", "py:class", "generated/torch.nn.Module.html#$", "-"),
    *[(f"torch.nn.Module.{name}", "py:method", "generated/torch.nn.Module.html#$", "-")
      for name in ("eval", "train", "state_dict", "load_state_dict", "parameters", "forward")],
    *[(f"torch.nn.{name}", "py:class", f"generated/torch.nn.{name}.html#$", "-") for name in
      ("Conv2d", "Linear", "BatchNorm2d", "Sequential", "ReLU", "Dropout", "MaxPool2d",
       "AvgPool2d", "ModuleList", "ModuleDict", "CrossEntropyLoss")],
    ("torch.nn.parameter.Parameter", "py:class",
     "generated/torch.nn.parameter.Parameter.html#$", "-"),
    ("torch.nn.Parameter", "py:class",
     "generated/torch.nn.parameter.Parameter.html#torch.nn.parameter.Parameter", "-"),
    ("torch.nn.modules.module.Module", "py:class",
     "generated/torch.nn.Module.html#torch.nn.Module", "torch.nn.Module"),
    *[(f"torch.nn.modules.{module}.{name}", "py:class",
       f"generated/torch.nn.{name}.html#torch.nn.{name}", f"torch.nn.{name}")
      for module, name in (("conv", "Conv2d"), ("linear", "Linear"),
                           ("batchnorm", "BatchNorm2d"), ("container", "Sequential"),
                           ("container", "ModuleList"))],
    *[(f"torch.nn.functional.{name}", "py:function",
       f"generated/torch.nn.functional.{name}.html#$", "-") for name in (
        "multilabel_soft_margin_loss", "binary_cross_entropy_with_logits", "cross_entropy",
        "interpolate", "relu", "softmax",
    )],
    ("torch.nn.parallel.DistributedDataParallel", "py:class",
     "generated/torch.nn.parallel.DistributedDataParallel.html#$", "-"),
    ("torch.nn.parallel.distributed.DistributedDataParallel", "py:class",
     "generated/torch.nn.parallel.DistributedDataParallel.html"
     "#torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.DistributedDataParallel"),
    # torch.optim
    ("torch.optim.Optimizer", "py:class", "optim.html#$", "-"),
    ("torch.optim.optimizer.Optimizer", "py:class", "optim.html#torch.optim.Optimizer",
     "torch.optim.Optimizer"),
    ("torch.optim.SGD", "py:class", "generated/torch.optim.SGD.html#$", "-"),
    ("torch.optim.AdamW", "py:class", "generated/torch.optim.AdamW.html#$", "-"),
    ("torch.optim.adamw.AdamW", "py:class", "generated/torch.optim.AdamW.html#torch.optim.AdamW",
     "torch.optim.AdamW"),
    ("torch.optim.sgd.SGD", "py:class", "generated/torch.optim.SGD.html#torch.optim.SGD",
     "torch.optim.SGD"),
    *[(f"torch.optim.lr_scheduler.{name}", "py:class",
       f"generated/torch.optim.lr_scheduler.{name}.html#$", "-")
      for name in ("LRScheduler", "LambdaLR", "PolynomialLR")],
    ("torch.autograd.gradcheck.gradcheck", "py:function",
     "generated/torch.autograd.gradcheck.gradcheck.html#$", "-"),
    # data loading and distributed training
    *[(f"torch.utils.data.{name}", "py:class", "data.html#$", "-")
      for name in ("Dataset", "DataLoader", "Sampler", "IterableDataset")],
    ("torch.utils.data.distributed.DistributedSampler", "py:class", "data.html#$", "-"),
    ("torch.utils.data.dataset.Dataset", "py:class", "data.html#torch.utils.data.Dataset",
     "torch.utils.data.Dataset"),
    ("torch.utils.data.dataloader.DataLoader", "py:class",
     "data.html#torch.utils.data.DataLoader", "torch.utils.data.DataLoader"),
    *[(f"torch.distributed.{name}", "py:function", "distributed.html#$", "-") for name in (
        "init_process_group", "all_reduce", "barrier", "broadcast",
        "get_rank", "get_world_size", "is_initialized",
    )],
]

NUMPY_DOCS = [
    ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#$", "-"),
    ("numpy.dtype", "py:class", "reference/generated/numpy.dtype.html#$", "-"),
    ("numpy.random.Generator", "py:class", "reference/random/generator.html#$", "-"),
    ("numpy.random._generator.Generator", "py:class",
     "reference/random/generator.html#numpy.random.Generator", "numpy.random.Generator"),
    ("numpy.random.default_rng", "py:function", "reference/random/generator.html#$", "-"),
    ("numpy.typing.ArrayLike", "py:data", "reference/typing.html#$", "-"),
    *[(f"numpy.{name}", "py:function", f"reference/generated/numpy.{name}.html#$", "-")
      for name in ("load", "save", "savez_compressed", "bincount", "argmax")],
]

PILLOW_DOCS = [
    ("PIL.Image.Image", "py:class", "reference/Image.html#$", "-"),
    ("PIL.Image.open", "py:function", "reference/Image.html#$", "-"),
    ("PIL.Image.fromarray", "py:function", "reference/Image.html#$", "-"),
]

INVENTORIES: dict[str, tuple[str, str, list[Entry]]] = {
    # file stem: (project name shown by Sphinx, version, entries)
    "python": ("Python", "3", PY_DOCS),
    "torch": ("PyTorch", "stable", TORCH_DOCS),
    "numpy": ("NumPy", "stable", NUMPY_DOCS),
    "pillow": ("Pillow", "stable", PILLOW_DOCS),
}


def encode_inventory(project: str, version: str, entries: list[Entry]) -> bytes:
    """Return the bytes of a version-2 ``objects.inv`` listing ``entries``.

    Parameters
    ----------
    project, version
        Written into the plain-text header.
    entries
        ``(name, "domain:role", uri, display name or "-")``; the priority is 1 for every entry
        (a normal object, shown in search results).
    """
    names = [(name, role) for name, role, _, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"entries: duplicated (name, role) in the {project} inventory")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(
        f"{name} {role} 1 {uri} {display}\n" for name, role, uri, display in sorted(entries)
    )
    return header.encode("utf-8") + zlib.compress(body.encode("utf-8"), 9)


def main() -> None:
    for stem, (project, version, entries) in INVENTORIES.items():
        path = HERE / f"{stem}.inv"
        with atomic_write(path, "wb") as f:
            f.write(encode_inventory(project, version, entries))
        print(f"{path.relative_to(HERE.parents[1])}: {len(entries)} objects")


if __name__ == "__main__":
    main()
