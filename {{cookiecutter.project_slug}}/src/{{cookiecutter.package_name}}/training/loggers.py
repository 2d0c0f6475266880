"""Experiment loggers (M38). W&B never blocks a run: with no API key it logs offline. MLflow
(logger=mlflow, the mlflow extra) gets the run's report files as artifacts, as W&B gets its figures."""

from __future__ import annotations

import netrc
import os

from hydra.utils import instantiate


def wandb_key_available() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


RUN_FILES = ("summary.json", "diagnosis.json", "checks.json", "history.json")  # the end of run, as artifacts


def build_loggers(settings: list[dict]) -> list:
    """The loggers of configs/logger/, each given as its block of plain values (`_target_` and its arguments)."""
    loggers = []
    for logger in settings:
        target = str(logger.get("_target_", ""))
        if target.endswith("WandbLogger") and not logger.get("offline"):
            if os.environ.get("WANDB_MODE") not in ("online",) and not wandb_key_available():
                print("wandb: no API key found, logging offline (upload later with `wandb sync <run dir>/wandb`)")
                logger = {**logger, "offline": True}
        if target.endswith("MLFlowLogger"):
            _require("mlflow", "logger=mlflow needs MLflow: pip install -e '.[mlflow]'")
        loggers.append(instantiate(logger))
    return loggers


def _require(module: str, message: str) -> None:
    import importlib.util

    from ..common import ConfigError

    if importlib.util.find_spec(module) is None:
        raise ConfigError(message)


def mlflow_run_id(loggers) -> str | None:
    return next((lg.run_id for lg in loggers if type(lg).__name__ == "MLFlowLogger"), None)


def log_run_files(loggers, out_dir) -> None:
    """The run's report files to the loggers that keep files (MLflow artifacts under report/)."""
    from pathlib import Path

    for logger in loggers:
        if type(logger).__name__ != "MLFlowLogger":
            continue
        for name in RUN_FILES:
            path = Path(out_dir) / name
            if path.is_file():
                try:
                    logger.experiment.log_artifact(logger.run_id, str(path), artifact_path="report")
                except Exception as e:  # noqa: BLE001 - a tracking server hiccup must not lose the run
                    print(f"warning: could not log {name} to MLflow: {e}")
