"""How long the sanity checks take (check.py, and the fast subset train.py runs first).

    python benchmarks/bench_checks.py [--runs 3]

Prints, after the imports (which are timed apart):
  * every check's time and the whole suite on the default data/model (goal: <= 10 s),
  * the fast subset that train.py runs before fitting,
  * the gradient check on MLPs of >= 1M parameters (goal: <= 5 s),
  * the wall time of `python check.py --help` (must not import torch).
Figures only; nothing is asserted. The median of `runs` runs (default 3) is reported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
SUITE_GOAL_S, GRADIENT_GOAL_S = 10.0, 5.0


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        return hydra_compose("train", overrides=["logger=none", "paths.output_dir=/tmp/bench_checks", *overrides])


def timed(fn, runs: int):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(runs: int) -> None:
    start = time.perf_counter()
    from {{cookiecutter.package_name}}.checks import run_checks

    print(f"imports (torch, lightning, hydra, the package): {time.perf_counter() - start:.1f} s, not counted below")
    print(f"torch threads: {__import__('torch').get_num_threads()}; the checks use checks.threads (default 1)\n")

    cfg = compose()
    out = Path("/tmp/bench_checks")
    run_checks(cfg, ids=["data.finite"])  # warm-up: first data load, first kernels
    suite, results = timed(lambda: run_checks(cfg, out_dir=out), runs)  # as check.py: json + lr plot
    print(f"whole suite, default data/model ({len(results)} checks), median of {runs}:")
    for r in results:
        print(f"  {r.id:<28} {r.status:<5} {r.seconds:6.2f} s")
    print(f"  {'total':<28} {'':<5} {suite:6.2f} s   (goal <= {SUITE_GOAL_S:g} s)\n")

    fast, results = timed(lambda: run_checks(cfg, subset="fast"), runs)
    print(f"fast subset (train.py runs it before fitting, {len(results)} checks): {fast:.2f} s\n")

    print("gradient check on large models (sampled entries, float64):")
    for hidden in ("[1024,1024]", "[2048,2048]"):
        big = compose(f"model.net.hidden={hidden}")
        from hydra.utils import instantiate

        net = instantiate(big.model.net, input_shape=[1, 8, 8], num_outputs=10)  # the digits; build.py fills in 'auto'
        params = sum(p.numel() for p in net.parameters())
        seconds, (result,) = timed(lambda big=big: run_checks(big, ids=["model.gradient"]), runs)
        print(
            f"  MLP hidden={hidden:<12} {params / 1e6:5.2f}M params: {seconds:5.2f} s with set-up, "
            f"{result.seconds:5.2f} s the check itself ({result.status}, max rel err {result.value:.1e})   (goal <= {GRADIENT_GOAL_S:g} s)"
        )

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT / "src"), os.environ.get("PYTHONPATH")])),
    }
    help_s, _ = timed(
        lambda: subprocess.run(
            [sys.executable, "check.py", "--help"], cwd=PROJECT, env=env, capture_output=True, check=True
        ),
        runs,
    )
    print(f"\npython check.py --help: {help_s:.2f} s wall (interpreter start-up included)")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="the median of this many runs is reported")
    main(parser.parse_args().runs)
