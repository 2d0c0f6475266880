"""A run loaded back from a checkpoint (build.load_run builds it from the run's .hydra/ config):
its model with the checkpoint's weights, its data module with the preprocessing and spec stored
in the checkpoint, and what diagnose.py, evaluate.py and predict.py read of its config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..common import ConfigError

if TYPE_CHECKING:
    from ..data.interface import DataInterface
    from ..model.task_module import TaskModule
    from .objective import Objective
    from .reports import Analysis


@dataclass
class LoadedRun:
    run_dir: Path  # the run's folder (its .hydra/, summary.json, history.json)
    model: TaskModule  # in eval mode, the checkpoint's weights
    datamodule: DataInterface  # the checkpoint's fitted preprocessing and spec
    checkpoint: dict
    objective: Objective  # objective.metric=auto resolved by the spec
    analysis: Analysis
    config: dict  # its saved config as plain values, unresolved, auto resolved: what identifies it (vault/ledger.py)


def find_run_dir(ckpt: Path) -> Path:
    for parent in list(ckpt.parents)[:4]:
        if (parent / ".hydra" / "config.yaml").is_file():
            return parent
    raise ConfigError(
        f"no .hydra/config.yaml found above {ckpt}; pass a checkpoint inside a run directory written by "
        "train.py (e.g. outputs/<date>/<time>/checkpoints/best.ckpt)"
    )


def load_checkpoint(path) -> dict:
    path = Path(str(path))
    if path.is_dir():
        found = sorted(
            p.relative_to(path).as_posix() for p in list(path.glob("*.ckpt")) + list(path.glob("checkpoints/*.ckpt"))
        )
        hint = f" (here: {', '.join(found[:4])})" if found else ", e.g. outputs/<date>/<time>/checkpoints/best.ckpt"
        raise ConfigError(f"ckpt_path={path} is a directory; pass the .ckpt file inside it{hint}")
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={path} does not exist; pass a .ckpt file, e.g. outputs/<date>/<time>/checkpoints/best.ckpt"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise ConfigError(
            f"ckpt_path={path} is not a readable checkpoint ({type(e).__name__}); pass a .ckpt written by train.py"
        ) from None
