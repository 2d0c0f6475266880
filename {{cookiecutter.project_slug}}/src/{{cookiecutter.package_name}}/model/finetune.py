"""Transfer learning (M22): start from weights you already have, train a new output layer.

    python train.py model.pretrained=outputs/pretrain/checkpoints/best.ckpt model.freeze_epochs=5

`model.pretrained` is a file on disk: a best.ckpt of an earlier run of this project, or a
state_dict you saved with torch.save(net.state_dict(), path). Nothing is downloaded. Every
tensor of the net is taken from it except the output layer's, which starts new, sized for
this task's classes. `model.freeze_epochs=N` then trains only that new layer for N epochs
(the backbone is frozen), after which the backbone joins at lr * `model.backbone_lr_scale`.
TaskModule.prepare calls load_pretrained; TaskModule.configure_callbacks adds FreezeBackbone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn

from ..common import ConfigError
from .initialization import output_layer


def _read_state_dict(path) -> dict[str, torch.Tensor]:
    """The tensors of a Lightning checkpoint ("state_dict" -> "net.*"), or of a plain state_dict
    file (optionally wrapped as {"state_dict": ...}), keyed as in net.state_dict()."""
    p = Path(str(path))
    if not p.is_file():
        what = "is a directory" if p.is_dir() else "does not exist"
        raise ConfigError(
            f"model.pretrained={path} {what}; point it at a best.ckpt of an earlier run or a saved state_dict"
        )
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)  # weights_only: a file cannot run code
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        raise ConfigError(
            f"model.pretrained={path} is not readable by torch.load(weights_only=True) ({type(e).__name__}); "
            "point it at a best.ckpt of an earlier run or a file saved with torch.save(net.state_dict(), path)"
        ) from None
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(
            f"model.pretrained={path} holds a {type(blob).__name__}, not a state_dict; save the weights with "
            "torch.save(net.state_dict(), path)"
        )
    state = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith("net.") for k in state):  # a Lightning checkpoint of TaskModule: keep the net's tensors
        state = {k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")}
    return state


def load_pretrained(net: nn.Module, path, x: torch.Tensor) -> str:
    """Load every tensor of `path` into `net` except the output layer's (found by running x
    through the net), which keeps its fresh start. Returns (and prints) one line saying what."""
    state = _read_state_dict(path)
    ours = net.state_dict()
    head_name, head = output_layer(net, x)
    head_keys = {f"{head_name}.{k}" for k in head.state_dict()} if head is not None else set()
    if not any(k in state for k in ours):
        raise ConfigError(
            f"model.pretrained={path} has no tensor named like this net's (the file: {list(state)[:3]}, the net: "
            f"{list(ours)[:3]}); the weights must come from the same model.net architecture"
        )
    backbone = [k for k in ours if k not in head_keys]
    for k in backbone:
        if k in state and state[k].shape != ours[k].shape:
            raise ConfigError(
                f"model.pretrained={path}: {k} has shape {list(state[k].shape)} in the file but {list(ours[k].shape)} "
                "in this net; use the same model.net settings (sizes, channels, batch norm) as the run that saved it"
            )
    loaded = [k for k in backbone if k in state]
    net.load_state_dict({k: state[k] for k in loaded}, strict=False)  # strict=False: the head is left out on purpose
    missing = [k for k in backbone if k not in state]
    width = getattr(head, "out_features", getattr(head, "out_channels", "?"))
    line = f"pretrained: {len(loaded)} tensors loaded from {path}; the output layer {head_name} ({width} outputs) starts new"
    if missing:  # e.g. batch norm switched on now but not in the run that saved the file
        line += f"; {len(missing)} backbone tensors not in the file also start new: {missing[:4]}"
    if line not in _SAID:  # the checks build several models: say it once
        _SAID.add(line)
        print(line)
    return line


_SAID: set[str] = set()


def split_head(net: nn.Module, x: torch.Tensor) -> tuple[str | None, nn.Module | None, list[nn.Module]]:
    """(output layer name, output layer, the backbone's modules that own parameters)."""
    head_name, head = output_layer(net, x)
    return head_name, head, [m for m in BaseFinetuning.flatten_modules(net) if m is not head]


class FreezeBackbone(BaseFinetuning):
    """Train only the output layer for `freeze_epochs` epochs, then the whole net, the backbone at
    the optimizer's lr * `backbone_lr_scale` (a new param group).

    BaseFinetuning does the bookkeeping: it calls freeze_before_training before
    configure_optimizers (which only takes parameters with requires_grad, so the frozen backbone
    is not in the optimizer yet), calls finetune_function at each epoch start, and saves the
    param groups it added in the checkpoint, so a run resumed with ckpt_path= gets them back.
    Batch norm layers of the backbone are frozen too (their running statistics stay as loaded).
    """

    def __init__(self, freeze_epochs: int, backbone_lr_scale: float = 1.0):
        super().__init__()
        self.freeze_epochs, self.backbone_lr_scale = int(freeze_epochs), float(backbone_lr_scale)
        self.backbone: list[nn.Module] = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":  # validate/test/predict train nothing: leave the net as it is
            self._datamodule = trainer.datamodule
            super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module) -> None:
        dm = getattr(self, "_datamodule", None)
        if dm is None:
            raise ConfigError(
                "model.freeze_epochs needs the run's data module to find the output layer; fit with "
                "trainer.fit(model, datamodule=...) as train.py does"
            )
        _, _, self.backbone = split_head(pl_module.net, dm.sample("train", 4)[0])
        self.freeze(self.backbone, train_bn=False)

    def finetune_function(self, pl_module, epoch: int, optimizer) -> None:
        params = [p for m in self.backbone for p in m.parameters(recurse=False)]
        if epoch < self.freeze_epochs or not params or all(p.requires_grad for p in params):
            return
        in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if all(
            id(p) in in_optimizer for p in params
        ):  # resumed after the unfreeze: the group came back with the checkpoint
            self.make_trainable(self.backbone)
            return
        lr = optimizer.param_groups[0]["lr"] * self.backbone_lr_scale
        self.unfreeze_and_add_param_group(self.backbone, optimizer, lr=lr, train_bn=True)
        _extend_schedulers(pl_module.trainer, optimizer, self.backbone_lr_scale)
        print(
            f"epoch {epoch}: backbone unfrozen ({len(params)} tensors), trained at lr {lr:.3g} "
            f"(optimizer lr x model.backbone_lr_scale={self.backbone_lr_scale:g})"
        )


def _extend_schedulers(trainer, optimizer, scale: float) -> None:
    """A scheduler built before the new param group knows only the old groups: give the new one
    the first group's schedule, scaled (base_lrs; OneCycleLR's initial/max/min lr keys)."""
    first, new = optimizer.param_groups[0], optimizer.param_groups[-1]
    for key, value in first.items():
        if key not in new:
            new[key] = value * scale if key in ("initial_lr", "max_lr", "min_lr") else value
    for config in getattr(trainer, "lr_scheduler_configs", []):
        scheduler = config.scheduler
        if getattr(scheduler, "optimizer", None) is not optimizer:
            continue
        for name in ("base_lrs", "_last_lr"):
            values = getattr(scheduler, name, None)
            if isinstance(values, list) and len(values) < len(optimizer.param_groups):
                values.append(new.get("initial_lr", new["lr"]) if name == "base_lrs" else new["lr"])
        if isinstance(getattr(scheduler, "lr_lambdas", None), list) and len(scheduler.lr_lambdas) < len(
            optimizer.param_groups
        ):
            scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
        if isinstance(getattr(scheduler, "min_lrs", None), list) and len(scheduler.min_lrs) < len(
            optimizer.param_groups
        ):
            scheduler.min_lrs.append(scheduler.min_lrs[0])
