"""What does the template cost per epoch? Three ways to train the same thing, side by side.

  hand     a hand-written PyTorch loop (train + eval on train_dev and dev each epoch)
  bare     a bare LightningModule: loss only, no callbacks, no logger, no metrics
  project  this project's own path: TaskModule + its metrics, best.ckpt on dev and last.ckpt
           (configs/callbacks/default.yaml), early stopping, the run recorder, the CSV logger
           (the progress bar is off in both Lightning runs)

Same data (digits, standardized), model, batch size, optimizer (Adam) and epochs; the
three run back to back in each round, and each ratio is the median over rounds of the
ratio within a round, so machine noise hits all three alike. Goals: project <= 1.10x bare,
and <= 1.15x hand for a model large enough that compute dominates. Three MLPs: the default
(256, 128), 512x3 and 1024x3; on a small CPU even bare Lightning costs 1.1-1.2x the hand
loop at 512x3, so compute only dominates at 1024x3.

    PYTHONPATH=src python benchmarks/bench_training.py [--epochs 10] [--rounds 10] [--models default 512x3 1024x3]
        [--variant callbacks.last_checkpoint.every_s=0 ...]   (a fourth run: the project with these
        overrides, in the same rounds, to price one choice: variant / project)

The project's speed trick, each split's metrics computed once an epoch instead of a torchmetrics
update and self.log in every step (training/callbacks/epoch_metrics.py), was measured at 2.15x
(default MLP) and 1.39x (512x3) for the step-by-step way, before that way was removed
(docs/maintainers.md).
"""

from __future__ import annotations

import argparse
import functools
import gc
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from {{cookiecutter.package_name}}.build import build
from {{cookiecutter.package_name}}.training.fit import compiled_for_fit, quiet_lightning

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
MODELS = {  # name: hidden widths; how much compute a step has decides what a fixed cost per step weighs
    "default": [256, 128],
    "512x3": [512, 512, 512],
    "1024x3": [1024, 1024, 1024],
}


def project_cfg(hidden, epochs, out_dir, extra=()):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"model.net.hidden=[{','.join(map(str, hidden))}]",
                "regularizer=[early_stopping]",
                "callbacks.early_stopping.patience=1000",  # keep the callback, never stop early
                f"trainer.max_epochs={epochs}",
                "trainer.accelerator=cpu",
                "trainer.enable_progress_bar=false",
                "+trainer.num_sanity_val_steps=0",
                "logger=csv",
                f"paths.output_dir={out_dir}",
                *extra,
            ],
        )


def run_project(hidden, epochs, extra=()):
    with tempfile.TemporaryDirectory() as out:
        L.seed_everything(0, verbose=False)
        cfg = project_cfg(hidden, epochs, out, extra)
        datamodule, model, trainer = build(cfg)
        datamodule.setup("fit")  # load the data outside the clock, as the other two do
        start = time.perf_counter()
        with compiled_for_fit(
            model.net, bool(cfg.model.get("compile", False))
        ):  # train.py's fit, --variant model.compile=true
            trainer.fit(model, datamodule=datamodule)
        return time.perf_counter() - start


class Bare(L.LightningModule):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def training_step(self, batch, batch_idx):
        x, y, _ = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        x, y, _ = batch
        self.log("val_loss", F.cross_entropy(self.net(x), y), add_dataloader_idx=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def make_net_and_data(hidden, epochs):
    """The project's own net and loaders, so the three differ only in the training loop."""
    with tempfile.TemporaryDirectory() as out:
        L.seed_everything(0, verbose=False)
        datamodule, model, _ = build(project_cfg(hidden, epochs, out))
    datamodule.setup("fit")
    return model.net, datamodule.train_dataloader(), datamodule.val_dataloader()


def run_bare(hidden, epochs):
    net, train_loader, val_loaders = make_net_and_data(hidden, epochs)
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(Bare(net), train_dataloaders=train_loader, val_dataloaders=val_loaders)
    return time.perf_counter() - start


def run_hand(hidden, epochs):
    net, train_loader, val_loaders = make_net_and_data(hidden, epochs)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        for x, y, _ in train_loader:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():  # the same evaluation work as the Lightning runs: every dev batch, every epoch
            accuracy = [
                sum(int((net(x).argmax(1) == y).sum()) for x, y, _ in loader) / len(loader.y) for loader in val_loaders
            ]
    assert all(0 <= a <= 1 for a in accuracy)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=10, help="many short rounds: the machine's slow spells last seconds"
    )
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="MLPs to time (default: all)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a busy machine)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also time the project with this override (repeat for several), e.g. callbacks.last_checkpoint.every_s=0",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    warnings.filterwarnings("ignore")
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs, {args.rounds} rounds")
    if args.variant:
        print(f"variant: the project with {' '.join(args.variant)}")
    print("ratios: median over rounds of the ratio within a round (all run back to back,")
    print("each first in turn), so a machine that slows down for a while slows all alike")
    for name in args.models:
        hidden = MODELS[name]
        runners = {"hand": run_hand, "bare": run_bare, "project": run_project}
        if args.variant:
            runners["variant"] = functools.partial(run_project, extra=args.variant)
        times = {way: [] for way in runners}
        for run in runners.values():
            run(hidden, 1)  # warm-up
        for i in range(args.rounds):
            order = list(runners)[i % len(runners) :] + list(runners)[: i % len(runners)]  # each goes first in turn
            for way in order:
                gc.collect()
                times[way].append(runners[way](hidden, args.epochs))

        def ratio(a, b, times=times):
            return statistics.median(x / y for x, y in zip(times[a], times[b]))

        print(f"\nMLP {name} (hidden {hidden})")
        for k, v in times.items():
            med = statistics.median(v)
            print(f"  {k:<8} {med:7.3f} s   ({med / args.epochs * 1000:6.1f} ms/epoch)")
        print(f"  project / bare = {ratio('project', 'bare'):.3f}   (goal <= 1.10)")
        print(f"  project / hand = {ratio('project', 'hand'):.3f}   (goal <= 1.15 where compute dominates)")
        print(f"  bare    / hand = {ratio('bare', 'hand'):.3f}   (Lightning's own overhead)")
        if args.variant:
            print(f"  variant / project = {ratio('variant', 'project'):.3f}   ({' '.join(args.variant)})")


if __name__ == "__main__":
    main()
