"""benchmarks/bench_gpu.py: its arguments, its arithmetic and its CPU-only exit, on the CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling _common
    try:
        spec = importlib.util.spec_from_file_location("bench_gpu", BENCHMARKS / "bench_gpu.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_defaults(bench):
    args = bench.parse_args([])
    assert args.models == ["deeplab", "seenet"]
    assert args.variants == list(bench.VARIANTS) and args.variants[0] == "fp32"
    assert (args.deeplab_batch, args.seenet_batch, args.steps) == (10, 16, 10)
    assert args.attention_size == (375, 500) and args.attention
    assert (args.repeats, args.warmup, args.threads) == (3, 3, 1)
    assert bench.MODELS["deeplab"][:2] == ("deeplab_largefov", 321)
    assert bench.MODELS["seenet"][:2] == ("seenet", 224)


def test_fp32_is_always_the_base(bench):
    args = bench.parse_args(["--variants", "bf16", "compile", "bf16", "--models", "seenet"])
    assert args.variants == ["fp32", "bf16", "compile"]
    assert args.models == ["seenet"]
    assert bench.parse_args(["--no-attention", "--attention-size", "10", "20"]).attention_size \
        == (10, 20)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--steps", "0"], "--steps"), (["--deeplab-batch", "x"], "--deeplab-batch"),
     (["--models", "resnet"], "--models"), (["--variants", "fp16"], "--variants"),
     (["--attention-size", "10"], "--attention-size")],
)
def test_bad_arguments_exit_naming_the_flag(bench, capsys, argv, flag):
    with pytest.raises(SystemExit) as info:
        bench.parse_args(argv)
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


def test_images_per_second(bench):
    assert bench.images_per_second(10, [2.0, 1.0, 4.0]) == (10.0, 5.0)  # best 10/1, median 10/2
    assert bench.images_per_second(3, [0.5]) == (6.0, 6.0)
    for bad in ([], [0.0], [1.0, float("inf")]):
        with pytest.raises(ValueError, match=r"^seconds"):
            bench.images_per_second(10, bad)


def test_cpu_only_machine_exits_cleanly(bench, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    assert "CUDA is not available" in capsys.readouterr().out


def test_training_step_and_timer_run_on_cpu(bench):
    # The code path the GPU runs, on a small input: a channels-last step updates the weights.
    step, model = bench.make_step("seenet", 2, 32, bench.VARIANTS["channels_last"],
                                  torch.device("cpu"))
    assert model.backbone.conv1_1.weight.is_contiguous(memory_format=torch.channels_last)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    calls = []
    times = bench.time_calls(lambda: (step(), calls.append(1)), 1, 2, 1, lambda: None)
    assert len(times) == 2 and all(t > 0 for t in times) and len(calls) == 3
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # three SGD steps moved the weights


def test_tables_on_cpu_with_small_inputs(bench, monkeypatch, capsys):
    # The whole measuring path on the CPU, shrunk: every row is filled, fp32's ratio is 1.
    monkeypatch.setitem(bench.MODELS, "seenet", ("seenet", 32, 2))
    args = bench.parse_args(["--models", "seenet", "--variants", "channels_last", "--steps", "1",
                             "--repeats", "1", "--warmup", "0", "--seenet-batch", "2",
                             "--attention-images", "1", "--attention-size", "48", "64"])
    bench.bench_training(args, torch.device("cpu"))
    bench.bench_attention(args, torch.device("cpu"))
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines()
            if line.startswith("|") and not line.startswith("|-")}
    assert rows["fp32"][2].strip() == "1.00"  # training: fp32 / fp32
    assert float(rows["channels_last"][0]) > 0
    assert float(rows["bf16"][0]) > 0  # attention under bf16 autocast
    assert "seenet (VGG16), 32x32, batch 2" in out and "1 images 64x48" in out
