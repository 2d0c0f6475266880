"""Config checks that fail fast, in one line, before anything is built or trained.

A failed run leaves its own new output folder (Hydra makes it first) and touches nothing else.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key and the fix."""


class TrainingFailed(RuntimeError):
    """Training cannot go on (a non-finite loss); the message names where and what to check. Exit 1."""


def validate_config(cfg: DictConfig) -> None:
    """What can be checked before any data is read; the objective against the task is
    checked once the data spec is known (tasks.validate_objective)."""
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and int(max_epochs) == 0:
        raise ConfigError("trainer.max_epochs=0 trains nothing (and would diagnose an untrained model); use 1 or more")
    lr = cfg.optimizer.get("lr")
    if lr is not None and float(lr) < 0:
        raise ConfigError(f"optimizer.lr={lr} must be >= 0 (a learning rate is a step size); e.g. optimizer.lr=1e-3")
    ckpt = cfg.get("ckpt_path")
    if ckpt and Path(ckpt).is_dir():
        raise ConfigError(f"ckpt_path={ckpt} is a directory; pass the .ckpt file in it (e.g. {Path(ckpt) / 'last.ckpt'})")
    if ckpt and not Path(ckpt).is_file():
        raise ConfigError(f"ckpt_path={ckpt} does not exist; pass the path of a .ckpt file (e.g. <run dir>/checkpoints/last.ckpt)")
    every_s = OmegaConf.select(cfg, "callbacks.last_checkpoint.every_s")
    if every_s is not None and float(every_s) < 0:
        raise ConfigError(f"callbacks.last_checkpoint.every_s={every_s} is negative; use 0 to write last.ckpt every epoch")
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator} but torch sees no CUDA GPU; use trainer=cpu (or trainer=default: a GPU when there is one)")
    strategy = str(cfg.trainer.get("strategy", "auto"))
    if "fsdp" in strategy.lower():
        import torch

        if cfg.trainer.get("accelerator") == "cpu" or not torch.cuda.is_available():
            raise ConfigError("trainer.strategy=fsdp needs GPUs (FSDP refuses the CPU); on CPU use trainer=ddp_cpu")


def refuse_an_existing_run_dir(argv: list[str]) -> None:
    """A run writes only into a folder it creates. Called before Hydra starts (Hydra itself
    writes .hydra/ into the run folder first): `hydra.run.dir=` naming a folder that holds
    anything is refused in one line, exit 2, with nothing touched."""
    import os

    if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:  # a requeued SLURM job comes back to its own folder
        return
    if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP child rank joins the folder its rank 0 created
        return
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "hydra.run.dir" and "${" not in value:
            folder = Path(value)
            if folder.is_dir() and any(folder.iterdir()):
                print(f"error: hydra.run.dir={value} holds an earlier run (or other files) and would be overwritten; "
                      "pass a new folder, or resume that run with ckpt_path=<its dir>/checkpoints/last.ckpt", file=sys.stderr)
                sys.exit(2)
            if folder.exists() and not folder.is_dir():
                print(f"error: hydra.run.dir={value} is a file; pass a folder that does not exist yet", file=sys.stderr)
                sys.exit(2)


def list_parts_as_sweeps(argv: list[str]) -> list[str]:
    """`model.net.hidden.depth=2` names no config key: depth and width are the sweeper's parts
    of a list (search/space.py). Under -m it is read as a one-value search entry, choice(2);
    in a single run it gets a one-line error saying what to write instead."""
    out, multirun = [], any(a in ("-m", "--multirun") for a in argv)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.rpartition(".")[2] in ("depth", "width") and "." in key and "(" not in value:
            if not multirun:
                prefix = key.rpartition(".")[0]
                print(f"error: {key}={value} is a sweep's part of the list {prefix}, not a config key; in a single run set "
                      f"the list itself, e.g. {prefix}=[128,128]", file=sys.stderr)
                sys.exit(2)
            arg = f"{key}=choice({value})"
        out.append(arg)
    return out


@contextlib.contextmanager
def exit_on_config_error():
    """Turn a ConfigError (also one raised inside hydra's instantiate) into one line and exit 2;
    a TrainingFailed into one line and exit 1."""
    try:
        yield
    except TrainingFailed as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - re-raised unless it is a config error
        error = e if isinstance(e, ConfigError) else e.__cause__
        if not isinstance(error, ConfigError):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
