"""The task decides the output layer, the loss and the metrics (M16).

  multiclass  C logits      -> softmax cross-entropy   metrics: accuracy, balanced_accuracy, f1
  binary      1 logit       -> sigmoid + binary CE     metrics: accuracy, balanced_accuracy, f1
  regression  1 real value  -> mean squared error      metrics: mae, mse

The net outputs raw logits / values: the loss applies softmax or sigmoid itself, which
is numerically stabler. A net whose output does not fit the task is an error, never a
silently wrong model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

from .config import ConfigError

TASKS = ("multiclass", "binary", "regression")
METRICS = {
    "multiclass": ("accuracy", "balanced_accuracy", "f1", "weighted_error", "loss"),
    "binary": ("accuracy", "balanced_accuracy", "f1", "weighted_error", "loss"),
    "regression": ("mae", "mse", "loss"),
}
# Whether a larger value of the metric is better: checkpointing and early stopping need it.
HIGHER_IS_BETTER = {
    "accuracy": True, "balanced_accuracy": True, "f1": True, "weighted_error": False, "mae": False, "mse": False, "loss": False,
}  # fmt: skip


def validate_objective(cfg, spec) -> None:
    """The objective against the task the data turned out to be (data.task may be auto)."""
    task, metric, mode = spec.task, cfg.objective.metric, cfg.objective.mode
    if metric not in METRICS[task]:
        hint = "objective.metric=mae objective.mode=min" if task == "regression" else "objective.metric=accuracy objective.mode=max"
        raise ConfigError(f"objective.metric={metric!r} is not measured for task {task} (of this data); use one of "
                          f"{', '.join(METRICS[task])}, e.g. {hint}")
    if metric == "weighted_error" and cfg.objective.get("class_costs") is None:
        raise ConfigError("objective.metric=weighted_error needs objective.class_costs, e.g. objective.class_costs=[1,10]")
    expected = "max" if HIGHER_IS_BETTER[metric] else "min"
    if mode != expected:
        raise ConfigError(f"objective.mode={mode!r} but {metric} is better when {'higher' if expected == 'max' else 'lower'}; set objective.mode={expected}")
    human = cfg.objective.get("human_error")
    bounded = HIGHER_IS_BETTER[metric] or metric == "weighted_error"  # the error is 1 - score, or a rate
    if human is not None and bounded and not 0 <= float(human) < 1:
        raise ConfigError(f"objective.human_error={human} but the error here is 1 - {metric}, a rate in [0, 1); "
                          "give it as a fraction, e.g. objective.human_error=0.05 for 5%")
    from .constraints import STATIC, parse_constraints

    logged = [f"{split}/{m}" for split in ("train", "train_dev", "dev") for m in METRICS[task]
              if m != "weighted_error" or cfg.objective.get("class_costs") is not None]
    for constraint in parse_constraints(cfg.objective.get("satisficing")):
        if constraint.name not in STATIC and constraint.name not in logged:
            raise ConfigError(f"objective.satisficing: {constraint.name!r} is never measured for task {task}; "
                              f"use {', '.join(STATIC)} or one of {', '.join(logged)}")


class Task:
    def __init__(self, kind: str, num_classes: int | None = None, label_smoothing: float = 0.0, class_costs=None):
        if kind not in TASKS:
            raise ConfigError(f"data.task={kind!r} is not supported; use one of {', '.join(TASKS)}")
        if kind == "multiclass" and (num_classes is None or num_classes < 2):
            raise ConfigError(f"task multiclass needs data.num_classes >= 2, got {num_classes}")
        if label_smoothing and kind != "multiclass":
            raise ConfigError("regularizer.label_smoothing applies to multiclass tasks only; set it to 0")
        if class_costs is not None and (kind == "regression" or len(class_costs) != (num_classes or 2)):
            raise ConfigError(
                f"objective.class_costs={list(class_costs)} needs one cost per class ({num_classes or 2}) "
                "and a classification task; e.g. objective.class_costs=[1,10] for binary"
            )
        self.kind, self.num_classes, self.label_smoothing = kind, num_classes, label_smoothing
        self.class_costs = class_costs

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "multiclass":
            return F.cross_entropy(out, y, label_smoothing=self.label_smoothing)
        if self.kind == "binary":
            return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype))
        return F.mse_loss(out.reshape(-1), y.to(out.dtype))

    def per_example_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.kind == "multiclass":
            return F.cross_entropy(out, y, reduction="none")
        if self.kind == "binary":
            return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype), reduction="none")
        return F.mse_loss(out.reshape(-1), y.to(out.dtype), reduction="none")

    def predict(self, out: torch.Tensor) -> torch.Tensor:
        """Class ids, or values for regression."""
        if self.kind == "multiclass":
            return out.argmax(-1)
        if self.kind == "binary":
            return (out.reshape(-1) > 0).long()
        return out.reshape(-1)

    def prior(self, y_train: torch.Tensor) -> torch.Tensor:
        """Class shares (or the mean target) on train: the best input-independent prediction."""
        if self.kind == "multiclass":
            return torch.bincount(y_train.long(), minlength=self.num_classes).float() / len(y_train)
        return y_train.float().mean().reshape(1)

    def prior_loss(self, y_train: torch.Tensor) -> float:
        """Loss of the best input-independent prediction: what an untrained model should score."""
        if self.kind == "multiclass":
            p = torch.bincount(y_train, minlength=self.num_classes).double() / len(y_train)
            p = p[p > 0]
            return float(-(p * p.log()).sum()) if len(p) else math.log(self.num_classes)
        if self.kind == "binary":
            p = float(y_train.float().mean())
            return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))
        return float(y_train.float().var(unbiased=False))

    def metrics(self) -> torchmetrics.MetricCollection:
        if self.kind == "multiclass":
            c = self.num_classes
            metrics = {
                "accuracy": torchmetrics.classification.MulticlassAccuracy(c, average="micro"),
                "balanced_accuracy": torchmetrics.classification.MulticlassAccuracy(c, average="macro"),
                "f1": torchmetrics.classification.MulticlassF1Score(c, average="macro"),
            }
        elif self.kind == "binary":
            metrics = {
                "accuracy": torchmetrics.classification.BinaryAccuracy(),
                "balanced_accuracy": torchmetrics.classification.MulticlassAccuracy(2, average="macro"),
                "f1": torchmetrics.classification.BinaryF1Score(),
            }
        if self.kind != "regression":
            if self.class_costs is not None:
                metrics["weighted_error"] = WeightedError(self.class_costs)
            return torchmetrics.MetricCollection(metrics)
        return torchmetrics.MetricCollection({"mae": torchmetrics.MeanAbsoluteError(), "mse": torchmetrics.MeanSquaredError()})

    def check_output(self, net: nn.Module, out: torch.Tensor, batch_size: int) -> None:
        """Raise a one-line ValueError when the net's output cannot be right for this task."""
        last = [m for m in net.modules() if not list(m.children())]
        if last and isinstance(last[-1], (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)):
            raise ConfigError(
                f"the net ends in {type(last[-1]).__name__}, but the {self.kind} loss applies it itself "
                "and expects raw logits; remove that final layer"
            )
        shape = list(out.shape)
        if self.kind == "multiclass" and shape != [batch_size, self.num_classes]:
            raise ConfigError(
                f"task multiclass with {self.num_classes} classes needs net outputs of shape "
                f"[batch, {self.num_classes}], got {shape}; set the last layer to {self.num_classes} outputs"
            )
        if self.kind != "multiclass" and shape not in ([batch_size], [batch_size, 1]):
            hint = "use data.task=multiclass for several classes" if self.kind == "binary" else "give the last layer 1 output"
            raise ConfigError(f"task {self.kind} needs one output per example ([batch] or [batch, 1]), got {shape}; {hint}")


class WeightedError(torchmetrics.Metric):
    """Error with a cost per true class (M3): mistakes on a class with cost 10 weigh ten
    times as much. Logged as <split>/weighted_error when objective.class_costs is set."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, costs, **kwargs):
        super().__init__(**kwargs)
        self.register_buffer("costs", torch.as_tensor(costs, dtype=torch.float32), persistent=False)
        self.add_state("wrong", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        w = self.costs.to(target.device)[target.long()].double()
        self.wrong += (w * (preds.long() != target.long()).double()).sum()
        self.total += w.sum()

    def compute(self) -> torch.Tensor:
        return (self.wrong / self.total.clamp_min(1e-12)).float()
