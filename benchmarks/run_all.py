"""Run every benchmark in sequence and print their ``RESULT`` lines at the end.

Each script runs in its own process with the given ``--threads`` (default 1); everything
else is each script's default. About 6 minutes at one thread on an idle 2-core machine
(``bench_gpu.py`` runs only where CUDA is available).

    python benchmarks/run_all.py
    python benchmarks/run_all.py --threads 2 --only seenet_step flops
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: In the order of the rows of the docs page (row 7, the whole pipeline, is timed by hand).
SCRIPTS = ("seenet_step", "flops", "cam", "miou", "fusion", "crf", "memory", "loader", "gpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="passed to every script")
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these scripts")
    args = parser.parse_args()
    results: list[str] = []
    failed: list[str] = []
    for name in args.only or SCRIPTS:
        script = HERE / f"bench_{name}.py"
        print(f"\n$ python benchmarks/{script.name} --threads {args.threads}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script), "--threads", str(args.threads)],
            capture_output=True, text=True,
        )
        print(proc.stdout, end="")
        if proc.returncode:
            print(proc.stderr, end="", file=sys.stderr)
            failed.append(name)
        print(f"   ({time.perf_counter() - start:.0f} s)", flush=True)
        results += [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    print("\n== Summary")
    for line in results:
        print(line)
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
