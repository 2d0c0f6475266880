"""Experiment loggers (M38). W&B never blocks a run: with no API key it logs offline."""

from __future__ import annotations

import netrc
import os

from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict


def wandb_key_available() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def build_loggers(cfg: DictConfig) -> list:
    loggers = []
    for logger_cfg in (cfg.get("logger") or {}).values():
        if not logger_cfg:
            continue
        if logger_cfg._target_.endswith("WandbLogger") and not logger_cfg.get("offline"):
            if os.environ.get("WANDB_MODE") not in ("online",) and not wandb_key_available():
                print("wandb: no API key found, logging offline (upload later with `wandb sync <run dir>/wandb`)")
                with open_dict(logger_cfg):
                    logger_cfg.offline = True
        loggers.append(instantiate(logger_cfg))
    return loggers
