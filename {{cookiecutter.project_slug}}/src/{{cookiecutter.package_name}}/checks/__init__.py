"""Sanity checks before training (M9-M17, M21): `python check.py [overrides]`.

    from {{cookiecutter.package_name}}.checks import run_checks
    results = run_checks(cfg, ids=["model.gradient"])   # -> [Result(status="pass", ...)]

    core.py             the registry (@check), the runner, Result, the table
    data_checks.py      data.*: splits, values, labels, leaks
    quality_checks.py   data.* that need a model: label issues, near-duplicates across splits
    model_checks.py     model.*: initial loss, gradients, batch independence, output vs task
    training_checks.py  model.overfit_tiny, model.beats_baseline, train.learning_rate

Each check is a function registered under an id; configs/checks/default.yaml holds the
selection and the thresholds. Your own checks: a module in user/ (found when this loads).
The checks read train, train_dev and dev only, never the test split.

This module is check.py's recipe, and the config stops here: below it the checks see a
CheckSettings of plain values and a function that builds fresh models (context_of).

May import: common, cli, tasks, data, model, build, evaluation.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from ..common import ConfigError
from . import data_checks, model_checks, quality_checks, training_checks  # noqa: F401 - registers the checks (in run order)
from .core import CHECKS, CheckContext, CheckSettings, Result, check, counts, exit_code, run_all, select, table

__all__ = [
    "CHECKS", "CheckContext", "CheckSettings", "Result", "before_training", "check", "context_of", "main",
    "run_checks", "select",
]  # fmt: skip

OFF = ("false", "none", "off", "0")
# Regularizer values switched off where the methodology says "regularization off".
# batch_norm stays: it is part of the architecture (the checks use eval mode where it matters).
REGULARIZATION_OFF = {"dropout": 0.0, "weight_decay": 0.0, "l1": 0.0, "input_noise": 0.0, "label_smoothing": 0.0}


def run_checks(
    cfg: DictConfig, ids: list[str] | None = None, subset: str | None = None, datamodule=None, out_dir=None
) -> list[Result]:
    """Run checks (default: those cfg.checks selects) on cfg's data and model; their results in order.
    Writes checks.json (and the checks' pictures) into out_dir when given."""
    settings = settings_of(cfg)
    return run_all(lambda: context_of(cfg, datamodule, settings), settings, ids, subset, out_dir)


def settings_of(cfg: DictConfig) -> CheckSettings:
    lr = (cfg.get("optimizer") or {}).get("lr")
    return CheckSettings(
        options=OmegaConf.to_container(cfg.get("checks") or OmegaConf.create({}), resolve=True),
        seed=int(cfg.get("seed", 0)),
        imbalance=str(cfg.get("imbalance") or "none"),
        metric=str(OmegaConf.select(cfg, "objective.metric", default="auto")),
        lr=None if lr is None else float(lr),
    )


def context_of(cfg: DictConfig, datamodule=None, settings: CheckSettings | None = None) -> CheckContext:
    """The checks' context on cfg's data (built here unless given) and fresh models of cfg's
    model, built as training builds them; with regularization off unless a check asks for it on."""
    from ..build import build_datamodule, build_model
    from ..evaluation.objective import resolved

    datamodule = datamodule if datamodule is not None else build_datamodule(cfg)
    plain = regularization_off(cfg)

    def new_model(regularized: bool = False):
        return build_model(cfg if regularized else plain, datamodule.spec, scheduler=False)

    settings = settings or settings_of(cfg)
    metric, _ = resolved(settings.metric, "auto", datamodule.spec.task, say=False)  # objective.metric=auto: the task's
    return CheckContext(dataclasses.replace(settings, metric=metric), datamodule, new_model)


def regularization_off(cfg: DictConfig) -> DictConfig:
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        reg = cfg.get("regularizer")
        for key, value in REGULARIZATION_OFF.items():
            if reg is not None and key in reg:
                reg[key] = value
    return cfg


def main(cfg: DictConfig) -> int:
    """What check.py does: run the selected checks, print the table, write checks.json; the exit code."""
    from ..build import build_datamodule, validate_objective
    from ..cli import validate_config

    validate_config(cfg)
    out_dir = Path(cfg.paths.output_dir)
    ids = select(cfg.checks)
    datamodule = build_datamodule(cfg)
    validate_objective(cfg, datamodule.spec)
    print(
        f"running {len(ids)} checks on data={_choice(cfg, 'data')} model={_choice(cfg, 'model')} "
        f"(task {datamodule.spec.task}); the test split is not read"
    )
    start = time.perf_counter()
    results = run_checks(cfg, ids=ids, datamodule=datamodule, out_dir=out_dir)
    print(table(results))
    code = exit_code(results)
    verdict = "FAILED" if code else "ok"
    print(f"\n{verdict}: {counts(results)} in {time.perf_counter() - start:.1f} s -> {out_dir / 'checks.json'}")
    return code


def before_training(cfg: DictConfig, datamodule=None) -> None:
    """What train.py runs before fitting (checks.before_train: fast | all | false).

    Prints what ran and the verdict; a failed check stops training with exit 1.
    """
    opts = cfg.get("checks")
    mode = "false" if opts is None else str(opts.get("before_train", "fast")).lower()
    if mode in OFF:
        print("checks: off before training (checks.before_train=false); python check.py runs them")
        return
    if mode not in ("fast", "all"):
        raise ConfigError(f"checks.before_train={mode!r} is not known; use fast, all or false")
    from ..common import first_process

    if not first_process():  # DDP's extra ranks, on any node: the first process has checked already
        return
    start = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    results = run_checks(cfg, subset=mode, datamodule=datamodule, out_dir=out_dir)
    failed = exit_code(results)
    print(
        f"checks: {len(results)} {mode} checks before training: {counts(results)} "
        f"({time.perf_counter() - start:.1f} s) -> {out_dir / 'checks.json'}; all of them: python check.py"
    )
    for r in results:
        if r.status in ("warn", "fail"):
            print(f"  {r.status.upper()} {r.id}: {r.message}" + (f" -> {r.remedy}" if r.remedy else ""))
    if failed:
        print("training stopped: a check failed. Fix it, or train anyway with checks.before_train=false")
        raise SystemExit(1)


def _choice(cfg: DictConfig, group: str) -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.choices.get(group, "?")
    except ValueError:  # composed outside a Hydra app (tests)
        return str(cfg.get(group, {}).get("_target_", "?")).rsplit(".", 1)[-1]
