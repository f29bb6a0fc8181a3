"""Every command the docs show parses, fits its process count, and the cheap ones run.

The commands live in ``docs/commands/*.sh``, which the docs include verbatim
(``literalinclude``), so what a user copies is what this test checks: each command's flags go
through its script's own ``parse()``; a training command's ``--batch-size`` must split into
``--micro-batch`` x the processes ``torchrun`` starts; the synthetic-data commands really run
(with a few flags added to make them take seconds).
"""

from __future__ import annotations

import json
import runpy
import shlex
from pathlib import Path

import pytest

from wsss.engine import RECIPES, cli

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ROOT / "docs" / "commands"
FILES = sorted(COMMANDS.glob("*.sh"))


def commands(path: Path) -> list[str]:
    """The commands of a shell file: comments and blank lines dropped, ``\\`` lines joined."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += stripped[:-1].rstrip() + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            joined.append(current)
            current = ""
    assert not current, f"{path}: the last command ends with a backslash"
    return joined


def split(command: str) -> tuple[str, list[str], int]:
    """``(script name, its arguments, processes)`` of a ``python`` or ``torchrun`` command."""
    words = shlex.split(command, comments=True)
    processes = 1
    if words[0] == "torchrun":
        at = next(i for i, w in enumerate(words) if w.endswith(".py"))
        for option in words[1:at]:
            if option.startswith("--nproc_per_node="):
                processes = int(option.split("=", 1)[1])
        words = words[at:]
    else:
        assert words[0] == "python", command
        words = words[1:]
    script = Path(words[0])
    assert script.parent == Path("examples"), command
    return script.stem, words[1:], processes


def test_commands_split_into_lines_and_words(tmp_path):
    shell = tmp_path / "x.sh"
    shell.write_text("# note\n\ntorchrun --nproc_per_node=4 examples/a.py --x 1 \\\n"
                     "    --y 'two words'\npython examples/b.py\n")
    lines = commands(shell)
    assert lines == ["torchrun --nproc_per_node=4 examples/a.py --x 1 --y 'two words'",
                     "python examples/b.py"]
    assert split(lines[0]) == ("a", ["--x", "1", "--y", "two words"], 4)
    assert split(lines[1]) == ("b", [], 1)


def test_every_command_file_is_in_the_docs():
    docs = "".join(p.read_text() for p in (ROOT / "docs").glob("*.rst"))
    assert FILES
    for path in FILES:
        assert f"literalinclude:: commands/{path.name}" in docs, path.name


CASES = [(path.name, command) for path in FILES for command in commands(path)]


@pytest.mark.parametrize(("file", "command"), CASES, ids=[f"{f}:{i}" for i, (f, _) in
                                                          enumerate(CASES)])
def test_documented_command_parses_and_fits_its_processes(file, command):
    name, arguments, processes = split(command)
    module = runpy.run_path(str(ROOT / "examples" / f"{name}.py"), run_name="not_main")
    args = module["parse"](arguments)
    recipe = RECIPES["synthetic" if file.startswith("synthetic") else "voc"]
    bases = {"train_seenet": recipe.classifier_train, "train_deeplab": recipe.deeplab_train}
    if name in bases:
        cli.check_batch(cli.train_config(args, bases[name]), processes)
    elif name == "run_pipeline":
        for base in (recipe.classifier_train, recipe.deeplab_train):
            cli.check_batch(base, processes)
    if processes > 1:
        assert name in ("train_seenet", "train_deeplab", "make_attention",
                        "make_pseudo_labels", "evaluate"), "run_pipeline runs one process"


def test_the_paper_batch_on_four_processes_is_refused():
    """The command users once copied: batch 10 cannot split over 4 processes of 1 image."""
    module = runpy.run_path(str(ROOT / "examples" / "train_seenet.py"), run_name="not_main")
    args = module["parse"](["--batch-size", "10", "--micro-batch", "1"])
    with pytest.raises(ValueError, match=r"use 8 or 12"):
        cli.check_batch(cli.train_config(args, RECIPES["voc"].classifier_train), 4)


TINY = {
    "train_seenet": ["--iterations", "2", "--batch-size", "4"],
    "make_attention": ["--scales", "1.0"],
    "train_deeplab": ["--iterations", "2", "--batch-size", "4"],
}


@pytest.mark.parametrize("file", ["synthetic_stages.sh", "synthetic_chain.sh"])
def test_synthetic_commands_run(tmp_path, monkeypatch, file):
    """The documented synthetic stage commands, in order, in a fresh folder (``runs/``
    relative); the later ones find the earlier runs by the documented paths."""
    monkeypatch.chdir(tmp_path)
    for command in commands(COMMANDS / file):
        name, arguments, _ = split(command)
        module = runpy.run_path(str(ROOT / "examples" / f"{name}.py"), run_name="not_main")
        module["main"]([*arguments, "--synthetic-train", "8", "--synthetic-val", "4",
                        "--image-size", "48", "--no-progress", "--threads", "1",
                        *TINY.get(name, [])])
    scores = json.loads((tmp_path / "runs" / "evaluate" / "scores.json").read_text())
    assert 0.0 <= scores["miou"] <= 1.0
    labels = "pseudo_labels" if file == "synthetic_stages.sh" else "labels"
    assert len(list((tmp_path / "runs" / labels).glob("*.png"))) == 8
