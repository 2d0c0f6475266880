"""One training run from a composed config: build, fit, summarize. Never touches test.

train.py's recipe, so it reads the config; what it calls below gets typed settings (build.py)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from ..build import analysis_of, build, objective_of
from ..cli import validate_config
from ..common import RANK_VARIABLES, ConfigError
from .loggers import log_run_files, mlflow_run_id

if TYPE_CHECKING:
    from ..evaluation.reports import Analysis


def quiet_lightning() -> None:
    """One line per Lightning message, and none of its advertisements."""
    lightning_logger = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers():  # Hydra's handlers print it already
        lightning_logger.handlers.clear()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(lambda record: "Tip:" not in str(record.msg))
    warnings.filterwarnings("ignore", message=".*treespec, LeafSpec.*")
    # TaskModule augments on the device in on_after_batch_transfer, on purpose (data/augment.py)
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


def requeued_slurm_job(cfg: DictConfig) -> None:
    """A SLURM job put back in the queue by a preemption (training/callbacks/preemption.py) starts again with the
    same command in the same run folder: it resumes from the last.ckpt it wrote there."""
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if not cfg.get("ckpt_path") and int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0 and last.is_file():
        with open_dict(cfg):
            cfg.ckpt_path = str(last)
        print(
            f"SLURM job {os.environ.get('SLURM_JOB_ID')} restarted ({os.environ['SLURM_RESTART_COUNT']}): resuming {last}"
        )


def fit_and_summarize(cfg: DictConfig) -> dict:
    """The recipe of train.py: build, check (or check the resume), fit, then score the selected
    checkpoint and report on it. Returns summary.json's content."""
    requeued_slurm_job(cfg)
    if cfg.get("ckpt_path"):
        resume_in_its_own_run(cfg)
    analysis = analysis_of(cfg)  # the analysis keys, checked before training rather than after it
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, model, trainer = build(cfg)
    write_skipped_rows(Path(cfg.paths.output_dir), datamodule.skipped_rows())
    before_fit(cfg, datamodule, model, trainer)
    fit(cfg, model, datamodule, trainer)
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint and checkpoint.best_model_path else None
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # What follows is rank 0's reporting alone: nothing may wait for the other ranks.
        torch.distributed.destroy_process_group()
    if not trainer.is_global_zero:
        return {"scores": {"dev": None}}
    return summarize(cfg, analysis, model, datamodule, trainer, best)


def before_fit(cfg: DictConfig, datamodule, model, trainer) -> None:
    """A resume is checked before any file of the run is touched (and its logs continue); a new
    run runs the fast checks (a failure stops here, exit 1) and records its provenance. Then the
    resolved config, with the data spec, goes to every logger."""
    out_dir = Path(cfg.paths.output_dir)
    if cfg.get("ckpt_path"):
        checkpoint = check_resume(cfg, model, datamodule)
        print("checks: ran before the interruption (checks.json); not run again on resume")
        info = out_dir / "run_info.json"
        ids = json.loads(info.read_text()) if info.is_file() else {}
        continue_logs(
            trainer.loggers, int(checkpoint["global_step"]), ids.get("wandb_run_id"), ids.get("mlflow_run_id")
        )
    else:
        from ..checks import before_training

        try:
            before_training(cfg, datamodule)  # configs/checks: checks.before_train=fast|all|false
        except SystemExit:
            from ..evaluation.end_of_run import page_after_failed_checks

            page_after_failed_checks(out_dir)  # report.html with the failed check on top
            raise
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["data_spec"] = datamodule.spec.to_dict()  # what the config did not say: read off the data
    if trainer.is_global_zero and not cfg.get("ckpt_path"):  # a resumed run keeps its own provenance
        write_provenance(out_dir, cfg, trainer)
    for logger in trainer.loggers:
        if cfg.get("ckpt_path") and type(logger).__name__ == "MLFlowLogger":
            continue  # MLflow's params are write-once: the run logged them before its interruption
        logger.log_hyperparams(resolved)


def fit(cfg: DictConfig, model, datamodule, trainer) -> None:
    """trainer.fit; a signal (SIGTERM, SIGUSR1, Ctrl-C) ends it with last.ckpt written, a line
    saying how to go on, and exit 128 + the signal."""
    from .callbacks.preemption import signal_of

    try:
        with compiled_for_fit(model.net, bool(cfg.model.get("compile", False))):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    except BaseException as e:
        signum = signal_of(e)
        if signum is None:
            raise
        note = next((c.note for c in trainer.callbacks if getattr(c, "note", None)), f"stopped by signal {signum}")
        print(note, file=sys.stderr)
        sys.exit(128 + signum)


def summarize(cfg: DictConfig, analysis: Analysis, model, datamodule, trainer, best: str | None) -> dict:
    """Score the selected checkpoint (not the last epoch) in eval mode on the three development
    splits, through the same inference path as every report, beside the dumb baseline; then the
    diagnosis, learning curves and error analysis (evaluation/end_of_run.py). Test stays in the vault."""
    from ..evaluation.end_of_run import after_training, no_best_reason
    from ..evaluation.scoring import baseline_scores, evaluate_splits

    out_dir, objective = Path(cfg.paths.output_dir), objective_of(cfg)
    metric = objective.metric
    if best:
        model.load_state_dict(torch.load(best, map_location=model.device, weights_only=True)["state_dict"])
    scored = evaluate_splits(model, datamodule, model.task, objective)
    scores = {
        f"{split}/{k}": v for split, values in scored[0].items() for k, v in values.items() if k not in ("error", "n")
    }
    baseline = baseline_scores(model.task, datamodule, objective)
    summary = {
        "objective": metric,
        "scores": {split: scores.get(f"{split}/{metric}") for split in ("train", "train_dev", "dev")},
        "all_scores": scores,
        "best_checkpoint": best,
        "last_checkpoint": last_checkpoint(trainer),
        "epochs": trainer.current_epoch,
        "output_dir": str(out_dir),
        "test_split_reads": datamodule.test_reads,
        "baseline": {
            "prediction": model.task.describe_constant(True),
            "scores": {split: values.get(metric) for split, values in baseline.items()},
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    # The data spec and the preprocessing fitted on train, readable (the checkpoints hold the same)
    (out_dir / "preprocessing.json").write_text(
        json.dumps(datamodule.state_dict(), indent=1, default=lambda t: t.tolist())
    )
    if reason := no_best_reason(objective, summary, trainer):
        summary["no_best_reason"] = reason
    print_summary(summary, trainer)
    after_training(out_dir, objective, analysis, summary, model, datamodule, trainer, scored=scored)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log_run_files(trainer.loggers, out_dir)
    return summary


@contextlib.contextmanager
def compiled_for_fit(net: torch.nn.Module, on: bool):
    """model.compile=true: the net's forward compiled (torch.compile) for the fit alone. The checks
    before it and the scoring and reports after it see the plain net (they copy nets and
    backpropagate twice, which compiled graphs do not take); nn.Module.compile() works in place,
    so checkpoints keep the plain parameter names (no "_orig_mod." prefix) for predict, resume
    and transfer."""
    if not on:
        yield
        return
    net.compile()
    try:
        yield
    finally:
        net._compiled_call_impl = None  # what nn.Module.compile() set: back to the eager forward


# Keys a resumed run may change: how long it goes on, where it writes, how it shows progress.
RESUME_MAY_CHANGE = (
    "ckpt_path",
    "paths",
    "hydra",
    "trainer.max_epochs",
    "trainer.max_time",
    "trainer.max_steps",
    "trainer.enable_progress_bar",
    "checks",
    "logger",
    "sweep_trial",  # a sweep trial resumed on its own reports to no study
)


def write_skipped_rows(out_dir: Path, rows) -> None:
    """missing_targets.csv: the file rows a table source left out for having no target (data/tables.py)."""
    if not len(rows):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["row,line"] + [f"{r},{r + 2}" for r in rows.tolist()]  # line: in the file, counting the header
    (out_dir / "missing_targets.csv").write_text("\n".join(lines) + "\n")


def check_resume(cfg: DictConfig, model, datamodule) -> dict:
    """The checkpoint is readable and holds a training state, of this model, on this data,
    and the config is the interrupted run's own: else a one-line ConfigError. Returns it."""
    from ..evaluation.runs import load_checkpoint

    checkpoint = load_checkpoint(cfg.ckpt_path)
    if "optimizer_states" not in checkpoint or "loops" not in checkpoint:
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path} holds weights only (best.ckpt and final.ckpt do); resume from "
            "the run's checkpoints/last.ckpt"
        )
    _budget_not_below(cfg, checkpoint)
    ours, theirs = model.state_dict(), checkpoint.get("state_dict", {})
    if set(ours) != set(theirs) or any(ours[k].shape != theirs[k].shape for k in ours):
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path} was saved by a different model; pass the same model/data overrides "
            "as the run that wrote it (see its .hydra/overrides.yaml)"
        )
    spec = (checkpoint.get(type(datamodule).__qualname__) or {}).get("spec")
    if spec is not None and spec != datamodule.spec.to_dict():
        differs = [k for k in spec if spec[k] != datamodule.spec.to_dict().get(k)]
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path} was trained on other data ({', '.join(differs)} differ); "
            "pass the same data overrides as the run that wrote it"
        )
    run_config = Path(cfg.paths.output_dir) / ".hydra" / "config.yaml"
    if run_config.is_file():
        from ..build import resolve_objective

        saved = OmegaConf.load(run_config)
        resolve_objective(saved, datamodule.spec, say=False)  # it says auto where cfg holds what auto became
        before, now = _flat(OmegaConf.to_container(saved)), _flat(OmegaConf.to_container(cfg))
        changed = sorted(
            k
            for k in set(before) | set(now)
            if before.get(k) != now.get(k) and not any(k == p or k.startswith(p + ".") for p in RESUME_MAY_CHANGE)
        )
        if changed:
            k = changed[0]
            raise ConfigError(
                f"resuming with another config than the run's: {k}={now.get(k)!r} (the run had {before.get(k)!r})"
                f"{f' and {len(changed) - 1} more' if len(changed) > 1 else ''}; resume with the run's own "
                "overrides (its .hydra/overrides.yaml), or start a new run"
            )
    return checkpoint


def _budget_not_below(cfg: DictConfig, checkpoint: dict) -> None:
    """A resume may raise the budget, not cut it below what the checkpoint has done (Lightning
    would stop in a MisconfigurationException traceback, or silently do nothing)."""
    # "processed": epochs whose batches all ran (last.ckpt is written in the epoch-end hook, before
    # Lightning counts the epoch "completed"; a mid-epoch checkpoint has not processed its epoch)
    progress = checkpoint["loops"].get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    epochs, steps = int(progress.get("processed", 0)), int(checkpoint.get("global_step", 0))
    for key, done, unit in (("max_epochs", epochs, "epochs"), ("max_steps", steps, "steps")):
        limit = cfg.trainer.get(key)
        if limit is not None and int(limit) >= 0 and int(limit) < done:
            raise ConfigError(
                f"trainer.{key}={limit} is below the {done} {unit} ckpt_path={cfg.ckpt_path} has trained; "
                f"resume with trainer.{key}={done} or more"
            )


def _flat(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


def continue_logs(loggers, global_step: int, run_id: str | None = None, mlflow_run: str | None = None) -> None:
    """A resumed run's logs read as one run: the CSV logger keeps the rows before the checkpoint
    (Lightning's would delete metrics.csv), TensorBoard drops the events after it, W&B
    continues the run `run_id` and MLflow the run `mlflow_run` (both kept in run_info.json)."""
    import csv

    for logger in loggers:
        kind = type(logger).__name__
        if kind == "CSVLogger":
            path = Path(logger.log_dir) / "metrics.csv"
            rows = []
            if path.is_file():
                with path.open(newline="") as f:
                    rows = [
                        {k: int(v) if v.lstrip("-").isdigit() else float(v) for k, v in row.items() if v != ""}
                        for row in csv.DictReader(f)
                    ]
            kept = [r for r in rows if r.get("step", 0) < global_step]
            experiment = logger.experiment  # (Lightning removes the old metrics.csv here)
            if not isinstance(getattr(experiment, "metrics", None), list):
                continue  # an extra DDP rank's stand-in: rank 0 alone writes metrics.csv
            experiment.metrics = kept + experiment.metrics
            if kept:
                logger.save()
        elif kind == "TensorBoardLogger":
            logger._kwargs["purge_step"] = global_step  # read when its SummaryWriter is made
        elif kind == "WandbLogger" and run_id:
            logger._wandb_init.update(id=run_id, resume="allow")  # read when its wandb run starts
        elif kind == "MLFlowLogger" and mlflow_run:
            logger._run_id = mlflow_run  # read when its experiment is first used: the run goes on, not a new one


def last_checkpoint(trainer) -> str | None:
    paths = [Path(c.dirpath) / "last.ckpt" for c in trainer.checkpoint_callbacks if c.dirpath]
    return next((str(p) for p in paths if p.is_file()), None)


def hide_passwords(text: str) -> str:
    """scheme://user:password@host -> scheme://user:***@host: a command line may carry a URL."""
    import re

    return re.sub(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s]+@", r"\1***@", text)


def write_provenance(out_dir: Path, cfg: DictConfig, trainer) -> None:
    """What it takes to know how a run was made (M37), into its folder before it trains:
    run_info.json (command, code version, torch build, devices, logger run ids),
    resolved_config.yaml (every ${...} filled in), environment.txt (every installed
    distribution and its version) and, inside a git repository with changes, git.diff."""
    import importlib.metadata
    import subprocess

    def git(*args):
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
            return done.stdout if done.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            return None

    out_dir.mkdir(parents=True, exist_ok=True)
    commit, diff = git("rev-parse", "HEAD"), git("diff", "HEAD")
    info = {
        "command": hide_passwords(" ".join(sys.argv)),
        "git_commit": commit.strip() if commit else None,
        "git_dirty": bool(diff and diff.strip()) or bool((git("status", "--porcelain") or "").strip()),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_build": f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU",
        "lightning": L.__version__,
        "accelerator": type(trainer.accelerator).__name__,
        "devices": [str(d) for d in trainer.device_ids] if hasattr(trainer, "device_ids") else None,
        "device_names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else [],
        "strategy": type(trainer.strategy).__name__,
        "world_size": trainer.world_size,  # processes in all
        "num_nodes": trainer.num_nodes,
        "devices_per_node": len(trainer.device_ids) if hasattr(trainer, "device_ids") else None,
        "ranks": {v: os.environ[v] for v in (*RANK_VARIABLES, "SLURM_NODEID", "SLURM_JOB_ID") if v in os.environ},
        "environment": type(trainer.strategy.cluster_environment).__name__
        if hasattr(trainer.strategy, "cluster_environment")
        else None,
        "precision": str(trainer.precision),
        "wandb_run_id": next((lg.experiment.id for lg in trainer.loggers if type(lg).__name__ == "WandbLogger"), None),
        "mlflow_run_id": mlflow_run_id(trainer.loggers),
    }
    (out_dir / "run_info.json").write_text(json.dumps(info, indent=2))
    (out_dir / "resolved_config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    distributions = sorted(
        {f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions() if d.metadata["Name"]},
        key=str.lower,
    )
    (out_dir / "environment.txt").write_text("\n".join(distributions) + "\n")
    if diff and diff.strip():
        (out_dir / "git.diff").write_text(diff)


def print_summary(summary: dict, trainer) -> None:
    metric = summary["objective"]
    if summary.get("no_best_reason"):
        print(f"\nNote: {summary['no_best_reason']}.")
    which = "the selected checkpoint" if summary["best_checkpoint"] else "the last epoch's weights"
    print(f"\n{metric} of {which} (eval mode; test split untouched):")
    for split, value in summary["scores"].items():
        print(f"  {split:<10} {value:.4f}" if value is not None else f"  {split:<10} n/a")
    dumb = summary.get("baseline", {}).get("scores", {}).get("dev")
    if dumb is not None:  # M1: the score to beat, from predicting without looking at the input
        print(f"  baseline   {dumb:.4f} on dev ({summary['baseline']['prediction']}, ignoring the input)")
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
