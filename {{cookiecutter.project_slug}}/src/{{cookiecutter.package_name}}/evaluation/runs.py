"""Loading a run back from a checkpoint: its config (the run's .hydra/ folder), its weights,
and its data module with the preprocessing and spec stored in the checkpoint. Used by
diagnose.py, evaluate.py and predict.py."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf, open_dict

from ..common import ConfigError


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


def load_run(ckpt_path, setup_data: bool = True):
    """(cfg, model with the checkpoint's weights, data module with the checkpoint's fitted
    preprocessing and spec, checkpoint dict). setup_data=False reads no data at all (predict)."""
    from ..build import build_datamodule, build_model

    ckpt_path = Path(str(ckpt_path)).resolve()
    checkpoint = load_checkpoint(ckpt_path)
    run_dir = find_run_dir(ckpt_path)
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    with open_dict(cfg):
        cfg.paths = {"output_dir": str(run_dir)}
        cfg.ckpt_path = None
    datamodule = build_datamodule(cfg, setup=setup_data)
    state = checkpoint.get(type(datamodule).__qualname__)  # Lightning stores it under the class name
    if not state or not state.get("spec"):
        raise ConfigError(
            f"{ckpt_path} holds no data spec (written by an older version of this project); retrain to use it here"
        )
    datamodule.load_state_dict(state)
    from .objective import resolve_objective

    # A run's saved config keeps objective.metric=auto; its spec says what that became.
    resolve_objective(cfg, datamodule.spec, say=False)
    model = build_model(cfg, datamodule.spec, optimizer=False, scheduler=False)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise ConfigError(
            f"{ckpt_path} holds another model's weights than the run's config builds "
            f"({str(e).splitlines()[0][:120]}); pass a checkpoint of this run"
        ) from None
    model.eval()
    return cfg, model, datamodule, checkpoint
