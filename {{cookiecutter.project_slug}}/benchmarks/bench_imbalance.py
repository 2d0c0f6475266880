"""What the remedies for rare classes do (M25): imbalance=none, class_weights, balanced_sampler.

    python benchmarks/bench_imbalance.py [--seeds 3] [--epochs N]

Trains the default MLP on +experiment=imbalanced_digits (digits 5-9 cut to a tenth of their
examples) once per remedy and seed (default 3 seeds: the weights, the shuffling and the
splits all change with it), everything else equal, and scores each run's selected checkpoint
on train_dev + dev together (both follow the training distribution here; pooled, they hold
15-20 examples of the rare classes per seed). Prints, per remedy, the mean and spread
over seeds of: accuracy, balanced accuracy (the mean recall over classes) and the recall of
the rare classes alone, and the difference to imbalance=none run with the same seeds.
Figures only; nothing is asserted.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
REMEDIES = ("none", "class_weights", "balanced_sampler")
RARE = (5, 6, 7, 8, 9)  # what load_digits_imbalanced cuts by default
EPOCHS: list[str] = []  # --epochs: one override for every run


def run(remedy: str, seed: int, out: Path) -> dict:
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from {{cookiecutter.package_name}}.build import load_run
    from {{cookiecutter.package_name}}.evaluation.inference import predict
    from {{cookiecutter.package_name}}.training.fit import train

    overrides = [
        "+experiment=imbalanced_digits",
        f"imbalance={remedy}",
        f"seed={seed}",
        f"data.split_seed={seed}",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "checks.before_train=false",
        "analysis.error_analysis=false",
        "analysis.label_issues=false",
        "analysis.near_duplicates=false",
        "analysis.mismatch_evidence=false",
        f"paths.output_dir={out}",
    ]
    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, *EPOCHS])
    (out / ".hydra").mkdir(parents=True)
    (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    with open(out / "train.log", "w") as log, contextlib.redirect_stdout(log):  # the table below is the output
        summary = train(cfg)
    run = load_run(summary["best_checkpoint"])
    model, dm = run.model, run.datamodule
    scored = [predict(model, dm.loader(split)) for split in ("train_dev", "dev")]
    pred = torch.cat([model.task.predict(p.out) for p in scored])
    y = torch.cat([p.y for p in scored]).long()
    recall = {c: float((pred[y == c] == c).float().mean()) for c in range(10) if (y == c).any()}
    return {
        "accuracy": float((pred == y).float().mean()),
        "balanced_accuracy": statistics.mean(recall.values()),
        "rare_recall": statistics.mean(recall[c] for c in RARE if c in recall),
        "rare_examples": int(sum((y == c).sum() for c in RARE)),
    }


def main(seeds: int) -> None:
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    start = time.perf_counter()
    results = {r: [] for r in REMEDIES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            for remedy in REMEDIES:
                results[remedy].append(run(remedy, seed, Path(tmp) / f"{remedy}-{seed}"))
    rare = [r["rare_examples"] for r in results["none"]]
    print(
        f"\n+experiment=imbalanced_digits, {seeds} seeds, scored on train_dev + dev ({min(rare)}-{max(rare)} examples "
        f"of the rare classes {list(RARE)} per seed); mean ± std over seeds, (difference to none)\n"
    )
    print(f"{'imbalance':<18} {'accuracy':>18} {'balanced_accuracy':>22} {'rare-class recall':>22}")
    for remedy in REMEDIES:
        cells = []
        for key in ("accuracy", "balanced_accuracy", "rare_recall"):
            values = [r[key] for r in results[remedy]]
            diff = statistics.mean(a[key] - b[key] for a, b in zip(results[remedy], results["none"]))
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(
                f"{statistics.mean(values):.3f}±{spread:.3f}" + (f" ({diff:+.3f})" if remedy != "none" else " " * 9)
            )
        print(f"{remedy:<18} {cells[0]:>18} {cells[1]:>22} {cells[2]:>22}")
    print(f"\n{len(REMEDIES) * seeds} runs in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=int, default=3, help="seeds per way (weights, shuffling and splits change with it)"
    )
    parser.add_argument("--epochs", type=int, help="trainer.max_epochs of every run (default: the experiment's)")
    args = parser.parse_args()
    if args.epochs:
        EPOCHS.append(f"trainer.max_epochs={args.epochs}")
    main(args.seeds)
