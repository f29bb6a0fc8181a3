"""Child process of the reliability suite: run one example script's ``main(argv)``.

Usage: ``python _driver.py SCRIPT_NAME [script arguments ...]``.

With ``WSSS_SLOW_DISK=<seconds>`` set, every output file is written in four chunks with that
pause after each one (a simulated slow disk). A test that kills the child at some moment then
almost surely kills it *during* a write, which is exactly when a non-atomic writer would leave a
partial file under its final name. The patch wraps the three primitives that ``wsss`` writes
output files with (``numpy.savez_compressed``, ``PIL.Image.Image.save`` and ``torch.save``):
each still writes to whatever target the caller gives (the final path or a temporary file);
only the pace changes.
"""

from __future__ import annotations

import io
import os
import runpy
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHUNKS = 4


def _write_slowly(data: bytes, target: object, delay: float) -> None:
    """Write ``data`` to a path or a binary file object, pausing after every chunk."""
    owned = isinstance(target, (str, os.PathLike))
    f = open(target, "wb") if owned else target
    try:
        step = max(1, -(-len(data) // CHUNKS))
        for start in range(0, len(data), step):
            f.write(data[start : start + step])
            f.flush()
            time.sleep(delay)
    finally:
        if owned:
            f.close()


def install_slow_disk(delay: float) -> None:
    """Make the output writers of numpy, Pillow and torch write slowly (see module docstring)."""
    import numpy as np
    import torch
    from PIL import Image

    savez_compressed = np.savez_compressed
    torch_save = torch.save
    image_save = Image.Image.save

    def slow_savez_compressed(file, *args, **kwargs):
        buffer = io.BytesIO()
        savez_compressed(buffer, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and not os.fspath(file).endswith(".npz"):
            file = os.fspath(file) + ".npz"  # numpy's own rule for paths
        _write_slowly(buffer.getvalue(), file, delay)

    def slow_torch_save(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        torch_save(obj, buffer, *args, **kwargs)
        _write_slowly(buffer.getvalue(), f, delay)

    def slow_image_save(self, fp, format=None, **params):
        if format is None and isinstance(fp, (str, os.PathLike)):
            format = Image.registered_extensions()[Path(fp).suffix.lower()]
        buffer = io.BytesIO()
        image_save(self, buffer, format=format, **params)
        _write_slowly(buffer.getvalue(), fp, delay)

    np.savez_compressed = slow_savez_compressed
    torch.save = slow_torch_save
    Image.Image.save = slow_image_save


def main() -> None:
    import torch

    torch.set_num_threads(1)
    delay = float(os.environ.get("WSSS_SLOW_DISK", "0"))
    if delay > 0:
        install_slow_disk(delay)
    name, *argv = sys.argv[1:]
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="not_main")["main"](argv)


if __name__ == "__main__":
    main()
