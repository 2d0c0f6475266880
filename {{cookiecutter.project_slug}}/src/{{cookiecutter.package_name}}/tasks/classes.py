"""What the class-based kinds share: per-class costs of an error (M3) and class weights (M25).
Defines no kind of its own."""

from __future__ import annotations

import torch
import torchmetrics

from ..common import ConfigError
from .base import Task
from .targets import encode_classes


class ClassTask(Task):
    metric_names = ("accuracy", "balanced_accuracy", "f1", "weighted_error")
    takes_class_costs = True
    single_label = True

    def __init__(self, num_classes=None, label_smoothing: float = 0.0, class_costs=None, imbalance: str = "none"):
        super().__init__(num_classes, label_smoothing, class_costs, imbalance)
        n = self.num_classes_or_two
        if class_costs is not None and len(class_costs) != n:
            raise ConfigError(
                f"objective.class_costs={list(class_costs)} needs one cost per class ({n}), "
                f"e.g. objective.class_costs=[{', '.join(['1'] * (n - 1))}, 10]"
            )
        # Train-frequency weights (imbalance=class_weights); ones otherwise. In the checkpoint.
        self.register_buffer("class_weights", torch.ones(n))

    @classmethod
    def encode_targets(cls, targets, declared, train, splits, factorized=None):
        """Class ids 0..C-1 and the class names (targets.encode_classes)."""
        return encode_classes(cls.kind, targets, declared, train, splits, factorized)

    def outputs_from_probabilities(self, probs: torch.Tensor) -> torch.Tensor:
        """[N, C] class probabilities (another model's, e.g. the reference) as this kind's net outputs."""
        return torch.log(probs)

    @property
    def num_classes_or_two(self) -> int:
        return self.num_classes or 2

    def fit(self, y_train: torch.Tensor) -> None:
        if self.imbalance == "class_weights":
            counts = self.class_counts(y_train).double().clamp_min(1)
            # "balanced" weights: every class then weighs as much in the loss as a class of average size
            self.class_weights.copy_((counts.sum() / (len(counts) * counts)).float())

    def class_counts(self, y: torch.Tensor) -> torch.Tensor:
        return torch.bincount(y.long(), minlength=self.num_classes_or_two)

    @property
    def target_form(self):
        return f"class ids in [0, {self.num_classes_or_two})"

    def label_problem(self, y: torch.Tensor) -> str | None:
        n = self.num_classes_or_two
        if y.ndim != 1:
            return f"targets of shape {list(y.shape)}, expected one class id per example [N]"
        if torch.is_floating_point(y) and (y != y.round()).any():
            return "non-integer labels (class targets with fractions)"
        bad = (y < 0) | (y >= n)
        if bad.any():
            return f"{int(bad.sum())} label(s) outside [0, {n}) (e.g. {int(y[bad][0])})"
        return None

    def describe_target(self, y, class_name):
        return class_name(y)

    def prior(self, y_train: torch.Tensor) -> torch.Tensor:
        return self.class_counts(y_train).float() / max(len(y_train), 1)

    def with_costs(self, metrics: dict) -> torchmetrics.MetricCollection:
        if self.class_costs is not None:
            metrics["weighted_error"] = WeightedError(self.class_costs)
        return torchmetrics.MetricCollection(metrics)


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
