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

May import: common, cli, tasks, data, model, build, evaluation.
"""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from ..common import ConfigError
from . import data_checks, model_checks, quality_checks, training_checks  # noqa: F401 - registers the checks (in run order)
from .core import CHECKS, CheckContext, Result, check, counts, exit_code, run_checks, select, table

__all__ = ["CHECKS", "CheckContext", "Result", "before_training", "check", "main", "run_checks", "select"]

OFF = ("false", "none", "off", "0")


def main(cfg: DictConfig) -> int:
    """What check.py does: run the selected checks, print the table, write checks.json; the exit code."""
    from ..build import build_datamodule
    from ..cli import validate_config
    from ..evaluation.objective import validate_objective

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
