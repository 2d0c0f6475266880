"""What starting from a pretrained net buys with few labels (M22).

    python benchmarks/bench_transfer.py [--seeds 3] [--epochs N]

Step 1 trains the CNN on digits 0-4 (+experiment=transfer_pretrain) once per seed.
Step 2 learns digits 5-9 from 10 labelled examples per class (+experiment=transfer_finetune,
the CNN) five ways, everything else equal: from scratch (no model.pretrained); fine-tuned (the
step-1 backbone, every layer trains from the first step); head first (model.freeze_epochs=5:
only the new output layer for 5 epochs, then all of it); head first with the backbone at a
tenth of the lr (model.backbone_lr_scale=0.1); frozen (the backbone never trains: a linear
probe). Each run's selected checkpoint is scored on dev + test (the ~850 examples of 5-9 that
were not among the labels). Prints, per way, the mean and spread over seeds of the accuracy
and the difference to scratch with the same seeds. Figures only; nothing is asserted.
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
EPOCHS: list[str] = []  # --epochs: one override for every run
QUIET = [
    "logger=none",
    "trainer.enable_progress_bar=false",
    "checks.before_train=false",
    "analysis.error_analysis=false",
    "analysis.label_issues=false",
    "analysis.near_duplicates=false",
    "analysis.mismatch_evidence=false",
]
WAYS = {
    "scratch": [],
    "fine-tuned": ["PRETRAINED"],
    "head first": ["PRETRAINED", "model.freeze_epochs=5"],
    "head first, backbone lr x0.1": ["PRETRAINED", "model.freeze_epochs=5", "model.backbone_lr_scale=0.1"],
    "frozen": ["PRETRAINED", "model.freeze_epochs=1000"],
}


def train_run(out: Path, overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from {{cookiecutter.package_name}}.training.fit import train

    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, *QUIET, *EPOCHS, f"paths.output_dir={out}"])
    (out / ".hydra").mkdir(parents=True)
    (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    with open(out / "train.log", "w") as log, contextlib.redirect_stdout(log):  # the table below is the output
        return train(cfg)


def accuracy(checkpoint: str) -> tuple[float, int]:
    import torch

    from {{cookiecutter.package_name}}.build import load_run
    from {{cookiecutter.package_name}}.evaluation.inference import predict

    run = load_run(checkpoint)
    model, dm = run.model, run.datamodule
    scored = [predict(model, dm.loader(split)) for split in ("dev", "test")]
    pred = torch.cat([model.task.predict(p.out) for p in scored])
    y = torch.cat([p.y for p in scored]).long()
    return float((pred == y).float().mean()), len(y)


def main(seeds: int) -> None:
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    start = time.perf_counter()
    results = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            seeded = [f"seed={seed}", f"data.split_seed={seed}"]
            source = train_run(Path(tmp) / f"pretrain-{seed}", ["+experiment=transfer_pretrain", *seeded])[
                "best_checkpoint"
            ]
            for way, extra in WAYS.items():
                extra = [f"model.pretrained={source}" if e == "PRETRAINED" else e for e in extra]
                summary = train_run(
                    Path(tmp) / f"{way.replace(' ', '_').replace(',', '')}-{seed}",
                    ["+experiment=transfer_finetune", *seeded, *extra],
                )
                results[way].append(accuracy(summary["best_checkpoint"]))
    scored = results["scratch"][0][1]
    print(
        f"\ndigits 5-9 from 10 labels per class (+experiment=transfer_finetune), {seeds} seeds, accuracy on dev + test "
        f"({scored} examples); backbone from digits 0-4 (+experiment=transfer_pretrain); mean ± std, (difference to scratch)\n"
    )
    print(f"{'start':<30} {'accuracy':>12}")
    for way in WAYS:
        values = [a for a, _ in results[way]]
        diff = statistics.mean(a - b for (a, _), (b, _) in zip(results[way], results["scratch"]))
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{way:<30} {statistics.mean(values):>6.3f}±{spread:.3f}" + (f" ({diff:+.3f})" if way != "scratch" else "")
        )
    print(f"\n{seeds * (1 + len(WAYS))} runs in {time.perf_counter() - start:.0f} s")


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
