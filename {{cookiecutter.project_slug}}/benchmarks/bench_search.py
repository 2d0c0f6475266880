"""Random search vs grid search at the same budget (M26, M27), on the bundled digits data.

    python benchmarks/bench_search.py                    16 trials each, 3 seeds, 3 epochs a trial
    python benchmarks/bench_search.py --seeds 5 --epochs 10
    python benchmarks/bench_search.py --quick            4 trials, 1 seed: does it run?

Both search the same box: learning rate 1e-4..1e-1 (log), weight decay 1e-5..1e-3 (log),
width 64..256 (log). The grid spends its 16 trials on 4 x 2 x 2 points, so it tries only
4 learning rates; random search tries 16 of each. Each seed changes the training seed (and
the random sampler's). Prints the best dev error (1 - accuracy) each search found.
A benchmark, not a test: the numbers depend on the machine's noise and the budget.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
GRID = {
    "optimizer.lr": "tag(log, choice(1e-4, 1e-3, 1e-2, 1e-1))",
    "regularizer.weight_decay": "tag(log, choice(1e-5, 1e-3))",
    "model.net.hidden.width": "tag(log, choice(64, 256))",
}
RANDOM = {
    "optimizer.lr": "tag(log, interval(1e-4, 1e-1))",
    "regularizer.weight_decay": "tag(log, interval(1e-5, 1e-3))",
    "model.net.hidden.width": "tag(log, int(interval(64, 256)))",
}


def multirun(overrides: list[str]) -> None:
    spec = importlib.util.spec_from_file_location("train_script_bench", PROJECT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main.__wrapped__.__module__ = "__main__"  # Hydra: configs/ beside train.py
    from hydra.core.global_hydra import GlobalHydra

    argv, sys.argv = sys.argv, ["train.py", "-m", *overrides]
    try:
        module.main()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()


def best_dev_error(storage: str, study_name: str) -> float:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=storage)
    values = [t.value for t in study.trials if t.state.name == "COMPLETE"]
    return 1.0 - max(values)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=16, help="budget of each search (the grid has 16 points)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each trial")
    parser.add_argument("--quick", action="store_true", help="4 trials, 1 seed, 1 epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.seeds, args.epochs = 4, 1, 1
    sys.path.insert(0, str(PROJECT / "src"))
    work = Path(tempfile.mkdtemp(prefix="bench_search_"))
    storage = f"sqlite:///{work}/bench.db"
    common = [
        "sweep=grid",  # its space (lr, weight decay, width): each range is replaced below
        "logger=none",
        "trainer=cpu",
        f"trainer.max_epochs={args.epochs}",
        "++trainer.enable_progress_bar=false",
        "++checks.before_train=false",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweeper.n_trials={args.trials}",
        "hydra.sweeper.pruner.type=none",
        "hydra/hydra_logging=disabled",
    ]
    results: dict[str, list[float]] = {"grid": [], "random": []}
    start = time.time()
    for seed in range(args.seeds):
        for method, space in (("grid", GRID), ("random", RANDOM)):
            name = f"{method}-seed{seed}"
            multirun(
                [
                    *common,
                    f"seed={seed}",
                    f"hydra.sweeper.sampler={method}",
                    f"hydra.sweeper.seed={seed}",
                    f"hydra.sweeper.study_name={name}",
                    f"hydra.sweep.dir={work}/{name}",
                    *[f"{k}={v}" for k, v in space.items()],
                ]
            )
            results[method].append(best_dev_error(storage, name))
            print(f"[bench] seed {seed} {method:<6} best dev error {results[method][-1]:.4f}", flush=True)

    print(
        f"\nbest dev error (1 - accuracy), {args.trials} trials per search, {args.epochs} epochs per trial, digits data"
    )
    print(f"{'seed':<6}{'grid':>10}{'random':>10}")
    for seed in range(args.seeds):
        print(f"{seed:<6}{results['grid'][seed]:>10.4f}{results['random'][seed]:>10.4f}")
    for method in ("grid", "random"):
        values = results[method]
        spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
        print(f"mean {method:<7} {statistics.mean(values):.4f}{spread}")
    wins = sum(r < g for g, r in zip(results["grid"], results["random"]))
    print(f"random better on {wins} of {args.seeds} seeds; {time.time() - start:.0f} s; studies in {storage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
