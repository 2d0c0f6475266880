"""One training run from a composed config: build, fit, summarize. Never touches test."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf, open_dict

from .build import build
from .config import ConfigError, validate_config


def quiet_lightning() -> None:
    """One line per Lightning message, and none of its advertisements."""
    lightning_logger = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers():  # Hydra's handlers print it already
        lightning_logger.handlers.clear()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda record: "Tip:" not in str(record.msg))
    warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
    # TaskModule augments on the device in on_after_batch_transfer, on purpose (augment.py)
    warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`.*")


def train(cfg: DictConfig) -> dict:
    validate_config(cfg)
    quiet_lightning()
    with ddp_safe_under_multirun():
        return fit_and_summarize(cfg)


def resume_in_its_own_run(cfg: DictConfig) -> None:
    """ckpt_path=<run>/checkpoints/last.ckpt continues <run> itself: its best checkpoint,
    best score and early-stopping state stay the reference, and its files stay together."""
    ckpt = Path(cfg.ckpt_path).resolve()
    if ckpt.parent.name == "checkpoints" and Path(cfg.paths.output_dir).resolve() != ckpt.parent.parent:
        with open_dict(cfg):
            cfg.paths.output_dir = str(ckpt.parent.parent)
        print(f"resuming the run in {cfg.paths.output_dir}")


def fit_and_summarize(cfg: DictConfig) -> dict:
    if cfg.get("ckpt_path"):
        resume_in_its_own_run(cfg)
    out_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, model, trainer = build(cfg)
    from .checks import before_training  # the fast sanity checks; a failure stops here (exit 1)

    before_training(cfg, datamodule)  # configs/checks: checks.before_train=fast|all|false
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["data_spec"] = datamodule.spec.to_dict()  # what the config did not say: read off the data
    for logger in trainer.loggers:
        logger.log_hyperparams(resolved)

    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except RuntimeError as e:
        if cfg.get("ckpt_path") and "Error(s) in loading state_dict" in str(e):
            raise ConfigError(
                f"ckpt_path={cfg.ckpt_path} was saved by a different model; pass the same model/data overrides "
                "as the run that wrote it (see its .hydra/overrides.yaml)"
            ) from None
        raise

    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint and checkpoint.best_model_path else None
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # What follows is rank 0's reporting alone: nothing may wait for the other ranks.
        torch.distributed.destroy_process_group()
    if not trainer.is_global_zero:
        return {"scores": {"dev": None}}
    # Score the selected checkpoint (not the last epoch) in eval mode on the three
    # development splits, through the same inference path as every report. Test stays in the vault.
    if best:
        model.load_state_dict(torch.load(best, map_location=model.device, weights_only=True)["state_dict"])
    from .diagnosis import evaluate_splits
    from .objective import Objective

    scored = evaluate_splits(model, datamodule, model.task, Objective.from_cfg(cfg.objective))
    scores = {f"{split}/{k}": v for split, values in scored[0].items() for k, v in values.items() if k not in ("error", "n")}

    summary = {
        "objective": cfg.objective.metric,
        "scores": {split: scores.get(f"{split}/{cfg.objective.metric}") for split in ("train", "train_dev", "dev")},
        "all_scores": scores,
        "best_checkpoint": best,
        "last_checkpoint": last_checkpoint(trainer),
        "epochs": trainer.current_epoch,
        "output_dir": str(out_dir),
        "test_split_reads": datamodule.test_reads,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "run_info.json").write_text(json.dumps(run_info(), indent=2))
    # The data spec and the preprocessing fitted on train, readable (the checkpoints hold the same)
    (out_dir / "preprocessing.json").write_text(json.dumps(datamodule.state_dict(), indent=1, default=lambda t: t.tolist()))
    # Diagnosis (bias/variance/mismatch), learning curves, error analysis on dev: diagnosis.py
    from .diagnosis import after_training, no_best_reason

    if reason := no_best_reason(cfg, summary, trainer):
        summary["no_best_reason"] = reason
    print_summary(summary, trainer)
    after_training(cfg, summary, model, datamodule, trainer, scored=scored)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt, what an interrupted run resumes from: written at the end of an epoch once
    `every_s` seconds have passed since the previous write, and always after the final epoch.

    Each write costs milliseconds even in the background (serializing holds Python's lock),
    a real share of an epoch of a small data set. Epochs longer than `every_s` are each
    saved; an interruption loses at most `every_s` seconds plus the epoch under way.
    (ModelCheckpoint's own save_last rewrites last.ckpt only when a new best was saved.)
    """

    def __init__(self, dirpath: str, every_s: float = 30.0):
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1,
                         save_on_train_epoch_end=True, enable_version_counter=False)  # fmt: skip
        self.every_s = float(every_s)
        self._written_at, self._written_step = time.monotonic(), None

    def on_train_start(self, trainer, pl_module) -> None:
        self._written_at = time.monotonic()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Early stopping has already decided (Lightning runs checkpoint callbacks last).
        final = trainer.should_stop or 0 < trainer.max_epochs <= trainer.current_epoch + 1
        if final or time.monotonic() - self._written_at >= self.every_s:
            super().on_train_epoch_end(trainer, pl_module)
            self._written_at, self._written_step = time.monotonic(), trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        if self._written_step != trainer.global_step:  # stopped by max_steps or max_time
            trainer.save_checkpoint(Path(self.dirpath) / "last.ckpt")


def last_checkpoint(trainer) -> str | None:
    paths = [Path(c.dirpath) / "last.ckpt" for c in trainer.checkpoint_callbacks if c.dirpath]
    return next((str(p) for p in paths if p.is_file()), None)


def run_info() -> dict:
    """Code version and environment, saved with every run (M37)."""
    import subprocess

    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=5).stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            return None

    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "lightning": L.__version__,
        "command": " ".join(sys.argv),
        "cuda": torch.cuda.is_available(),
    }


def print_summary(summary: dict, trainer) -> None:
    metric = summary["objective"]
    if summary.get("no_best_reason"):
        print(f"\nNote: {summary['no_best_reason']}.")
    which = "the selected checkpoint" if summary["best_checkpoint"] else "the last epoch's weights"
    print(f"\n{metric} of {which} (eval mode; test split untouched):")
    for split, value in summary["scores"].items():
        print(f"  {split:<10} {value:.4f}" if value is not None else f"  {split:<10} n/a")
    print(f"checkpoint  {summary['best_checkpoint'] or 'none (last epoch; see the note above)'}")
    print(f"config      {Path(summary['output_dir']) / '.hydra' / 'config.yaml'}")
    for logger in trainer.loggers:
        print(f"logs        {logger.log_dir or logger.save_dir} ({type(logger).__name__})")
    print(f"summary     {Path(summary['output_dir']) / 'summary.json'}")


@contextlib.contextmanager
def ddp_safe_under_multirun():
    """Let a DDP job run inside a Hydra multirun (`train.py -m ... trainer=ddp`).

    Lightning starts ranks 1..N-1 by re-running sys.argv. In a multirun that command is
    the whole sweep, so every child would start a sweep of its own. Here the command
    becomes this job's own overrides, written into this job's directory. Afterwards the
    process group and the environment variables Lightning set are released, so the next
    job launches its own ranks on a fresh port.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if not multirun:  # a child rank runs in plain run mode: nothing to do
        yield
        return
    hydra_cfg = HydraConfig.get()
    argv, environ = sys.argv, dict(os.environ)
    sys.argv = [argv[0], *hydra_cfg.overrides.task]
    OmegaConf.set_readonly(hydra_cfg, False)
    hydra_cfg.run.dir = hydra_cfg.runtime.output_dir  # Lightning passes run.dir to the children
    try:
        yield
    finally:
        sys.argv = argv
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        os.environ.clear()  # Lightning left LOCAL_RANK, MASTER_PORT, ... for the next job to trip on
        os.environ.update(environ)
