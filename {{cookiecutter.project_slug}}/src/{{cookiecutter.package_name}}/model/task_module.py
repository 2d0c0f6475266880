"""The LightningModule: any torch.nn.Module (`net`) + a task's loss and metrics.

Your own network plugs in through the config, not here:
    model.net._target_: my_package.my_nets.MyNet   (configs/model/*.yaml)
Regularizers that are not part of the net (L1, input noise, label smoothing) live here;
dropout and batch norm are the net's, weight decay is the optimizer's. The steps return what they
computed (outputs, targets, loss); each split's metrics are computed from those once an epoch by
the EpochMetrics callback (training/callbacks/epoch_metrics.py), which build_trainer always
puts first. The metric objects live here, on the module, so they follow it to its device.
"""

from __future__ import annotations

import functools

import lightning as L
import torch
import torchmetrics
from torch import nn

from ..common import ConfigError
from ..tasks import Task
from .initialization import init_by_activation, init_output_layer, last_module, output_layer


class TaskModule(L.LightningModule):
    """`net` trained for `task` (its loss, metrics and output encoding; build.py makes it from the
    data spec, regularizer.label_smoothing, objective.class_costs and imbalance). The other
    arguments are configs/model/*.yaml's keys: the start (init, output_bias_from_prior), the
    regularizers that are not the net's (l1, input_noise, augment), and transfer (pretrained,
    freeze_epochs, backbone_lr_scale)."""

    def __init__(
        self,
        net: nn.Module,
        task: Task,
        optimizer: functools.partial | None = None,
        scheduler: functools.partial | None = None,
        init: str = "auto",
        output_bias_from_prior: bool = True,
        l1: float = 0.0,
        input_noise: float = 0.0,
        augment: dict | None = None,
        pretrained: str | None = None,
        freeze_epochs: int = 0,
        backbone_lr_scale: float = 1.0,
    ):
        super().__init__()
        # Only plain values go into the checkpoint: it must load with torch's weights_only=True
        # (hence a dict, not the DictConfig Hydra passes in).
        augment = None if augment is None else {str(k): v for k, v in dict(augment).items()}
        self.save_hyperparameters(ignore=["net", "task", "optimizer", "scheduler"])
        self.hparams.update(  # what the checkpoint says of the task it was trained for
            task=task.kind,
            num_classes=task.num_classes,
            label_smoothing=float(task.label_smoothing),
            class_costs=None if task.class_costs is None else [float(c) for c in task.class_costs],
            imbalance=task.imbalance,
        )
        self.net, self.task = net, task
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        if init not in ("auto", "none"):
            raise ConfigError(
                f"model.init={init!r} is not known; use auto (He/Xavier by activation) or none (keep the net's own)"
            )
        if int(freeze_epochs) < 0:
            raise ConfigError(
                f"model.freeze_epochs={freeze_epochs} must be >= 0 (0 = train the whole net from the start)"
            )
        if not float(backbone_lr_scale) > 0:
            raise ConfigError(
                f"model.backbone_lr_scale={backbone_lr_scale} must be > 0 (e.g. 0.1: the backbone at a tenth of optimizer.lr)"
            )
        self.init_scheme = init_by_activation(net) if init == "auto" else "net's own"
        self.l1, self.input_noise = l1, input_noise
        self.mixup = float((augment or {}).get("mixup", 0.0))
        self.augment = None  # built in setup(), once the input shape is known
        # Keys are "<split>_split": a ModuleDict key may not shadow nn.Module.train.
        splits = ("train", "train_dev", "dev", "test")
        self.metrics = nn.ModuleDict({f"{s}_split": self.task.metrics() for s in splits})
        self.losses = nn.ModuleDict({f"{s}_split": torchmetrics.MeanMetric() for s in splits})
        self._prepared = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self.trainer else None
        if dm is not None:
            self.prepare(dm, fit=stage == "fit")

    def prepare(self, datamodule, fit: bool = True, check: bool = True) -> None:
        """What needs the data: the output check, the task's train statistics, and once, for a
        fresh model about to fit, the output layer's start and the pretrained backbone.
        Lightning's setup calls it; the checks call it (check=False: they report a wrong
        output as a check result) on the models they build."""
        x = datamodule.sample("train", 4)[0]
        if check:
            check_net(self.task, self.net, x)
        if self.hparams.augment and self.augment is None:
            from ..data.augment import build_augment

            self.augment = build_augment(self.hparams.augment, tuple(x.shape[1:]))
        if not fit or self._prepared:
            return
        self._prepared = True  # a later fit, validate or test of this module keeps what it learned
        self.task.fit(datamodule.targets("train"))  # a resumed fit then loads the checkpoint's over it
        if self.hparams.init == "auto":
            init_output_layer(output_layer(self.net, x)[1])
        # "Init well": start at the prior, unless an imbalance remedy makes the classes weigh
        # (or come) evenly; then the uniform start of a zero bias is the prior the loss sees.
        if self.hparams.output_bias_from_prior and self.hparams.imbalance == "none":
            self.set_output_bias(datamodule.targets("train"), x)
        if self.hparams.pretrained:
            try:
                from .finetune import load_pretrained
            except ImportError:  # transfer learning (M22) is not part of this version yet
                raise ConfigError(
                    "model.pretrained is not supported in this version of the project; remove it"
                ) from None
            load_pretrained(self.net, self.hparams.pretrained, x)

    def set_output_bias(self, y_train: torch.Tensor, x: torch.Tensor) -> None:
        """Start from the prior: log class shares (softmax), log-odds (sigmoid), the mean target."""
        layer = output_layer(self.net, x)[1]
        if layer is not None and layer.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(self.task.prior_bias(y_train).reshape(layer.bias.shape))

    # ------------------------------------------------------------------ steps
    # A batch is (inputs, targets, example indices); the indices name examples in reports.
    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # Augmentation on the device, on training batches only: never on train_dev, dev,
        # test, the final scoring or the checks (they do not run through a fitting trainer).
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x, *rest = batch
            batch = (self.augment(x), *rest)
        return batch

    def training_step(self, batch, batch_idx):
        x, y, _ = batch
        if self.input_noise:
            x = x + self.input_noise * torch.randn_like(x)
        if self.mixup:  # a convex mix of two examples, scored against both targets
            from ..data.augment import mixup

            x_mixed, y, y_other, lam = mixup(x, y, self.mixup)
            out = self.net(x_mixed)
            loss = lam * self.task.loss(out, y) + (1 - lam) * self.task.loss(out, y_other)
        else:
            out = self.net(x)
            loss = self.task.loss(out, y)
        outputs = self._step_outputs("train", out, y, loss)
        if self.l1:
            loss = loss + self.l1 * sum(p.abs().sum() for name, p in self.net.named_parameters() if p.ndim > 1)
        return {"loss": loss, **outputs}

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x, y, _ = batch
        out = self.net(x)
        split = self.trainer.datamodule.eval_splits[dataloader_idx] if self.trainer.datamodule else "dev"
        return self._step_outputs(split, out, y, self.task.loss(out, y))

    def test_step(self, batch, batch_idx):
        x, y, _ = batch
        out = self.net(x)
        return self._step_outputs("test", out, y, self.task.loss(out, y))

    @staticmethod
    def _step_outputs(split: str, out, y, loss) -> dict:
        """What the EpochMetrics callback collects from every step."""
        return {"split": split, "out": out.detach(), "y": y, "task_loss": loss.detach()}

    # ------------------------------------------------------------------ optimization
    def configure_callbacks(self):
        """model.freeze_epochs > 0: train only the output layer first; model.backbone_lr_scale != 1: the
        backbone at its own learning rate (both finetune.FreezeBackbone)."""
        if self.hparams.freeze_epochs <= 0 and float(self.hparams.backbone_lr_scale) == 1.0:
            return []
        from .finetune import FreezeBackbone

        if not self.hparams.pretrained and self.hparams.freeze_epochs > 0:
            print(
                f"note: model.freeze_epochs={self.hparams.freeze_epochs} without model.pretrained freezes a randomly "
                "initialized backbone for those epochs"
            )
        return [FreezeBackbone(self.hparams.freeze_epochs, self.hparams.backbone_lr_scale)]

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ConfigError("no optimizer configured; pick one with optimizer=adam (see configs/optimizer)")
        optimizer = self.optimizer_factory(
            params=[p for p in self.parameters() if p.requires_grad]
        )  # frozen layers join later
        if self.scheduler_factory is None:
            return optimizer
        kind = self.scheduler_factory.func
        if kind is torch.optim.lr_scheduler.OneCycleLR:  # needs the run's length, known only now
            scheduler = self.scheduler_factory(optimizer, total_steps=int(self.trainer.estimated_stepping_batches))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        scheduler = self.scheduler_factory(optimizer)
        config = {"scheduler": scheduler, "interval": "epoch"}
        if kind is torch.optim.lr_scheduler.ReduceLROnPlateau:
            config["monitor"] = "dev/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Dropout and input noise draw from the global RNG: save it so a resumed run
        # continues the very same random stream as an uninterrupted one.
        checkpoint["rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["rng_state"])


def check_net(task: Task, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The net's eval-mode output on x, or a one-line ConfigError when it cannot be right:
    a final softmax/sigmoid module (found by data flow: the last module forward() runs),
    or the wrong shape."""
    last = last_module(net, x)
    if isinstance(last, (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)):
        raise ConfigError(
            f"the net ends in {type(last).__name__}, but the {task.kind} loss applies it itself "
            "and expects raw logits; remove that final layer"
        )
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = net(x)
    net.train(was_training)
    problem = task.check_output(out, len(x))
    if problem:
        raise ConfigError(problem)
    return out
