"""How long `python train.py --help` takes, and whether it imports torch or lightning.

    python benchmarks/bench_help.py [--runs 5]

`--help` only composes configs, so it must not pay for `import torch` / `import lightning`
(several seconds). Goal: under 2 s wall time. Prints the wall time of each run, the
median and best, and the heavy modules that got imported (there should be none).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
GOAL_S = 2.0
HEAVY = ("torch", "lightning", "pytorch_lightning", "torchmetrics", "wandb", "sklearn")


def heavy_imports() -> list[str]:
    """Top-level heavy packages that `train.py --help` imports (from -X importtime)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT / "src"), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "train.py", "--help"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # lines look like: "import time:       512 |        512 | torch"
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return sorted(n for n in names if n in HEAVY)


def time_help(runs: int) -> list[float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT / "src"), os.environ.get("PYTHONPATH")])),
    }
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "train.py", "--help"], cwd=PROJECT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main(runs: int) -> int:
    times = time_help(runs)
    heavy = heavy_imports()
    median = statistics.median(times)
    print("python train.py --help")
    print("  runs      " + "  ".join(f"{t:.2f}s" for t in times))
    print(
        f"  median    {median:.2f} s   best {min(times):.2f} s   goal < {GOAL_S:.0f} s   ({median / GOAL_S:.2f}x the goal)"
    )
    print(f"  imports   {', '.join(heavy) if heavy else 'no torch, no lightning'}")
    # Exit 1 only for a heavy import (a fact of the code); the time is a figure: a busy machine is slower.
    return 1 if heavy else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="how many times to time it")
    sys.exit(main(parser.parse_args().runs))
