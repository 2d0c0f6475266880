"""What every task kind answers. A task is an nn.Module so that the statistics it fits on
the train targets (a regression's mean and std, class weights) travel in every checkpoint."""

from __future__ import annotations

import numpy as np
import torch
import torchmetrics
from torch import nn

from ..common import ConfigError
from .targets import encode_values

IMBALANCE = ("none", "class_weights", "balanced_sampler")  # remedies for rare classes (M25)
# Whether a larger value of a metric is better: checkpointing and early stopping need it.
HIGHER_IS_BETTER = {
    "accuracy": True, "balanced_accuracy": True, "f1": True, "weighted_error": False, "mae": False, "mse": False, "loss": False,
}  # fmt: skip


class Task(nn.Module):
    registry: dict[str, type[Task]] = {}
    kind: str = ""
    metric_names: tuple[str, ...] = ()  # logged as <split>/<name>, besides loss
    default_objective = ("accuracy", "max")
    classes = True  # targets are classes or labels (class weights apply), not values
    missing_labels = False  # NaN in a target means "unknown" (multilabel), not broken data
    single_label = False  # one class per example: confusion matrix, label issues, class costs, balanced sampling
    loss_name = ""
    prior_name = "class shares"  # what the best input-independent prediction is
    takes_label_smoothing = takes_class_costs = False

    def __init_subclass__(cls, **kwargs):
        # A class names its own kind to be registered (a subclass that does not inherits the
        # behaviour, not the name); one name, one class: yours cannot replace the recipe's quietly.
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if not kind:
            return
        known = Task.registry.get(kind)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ConfigError(
                f"task kind {kind!r} is defined twice, by {known.__module__}.{known.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}; give yours another kind = '...'"
            )
        Task.registry[kind] = cls

    def __init__(
        self, num_classes: int | None = None, label_smoothing: float = 0.0, class_costs=None, imbalance: str = "none"
    ):
        super().__init__()
        if imbalance not in IMBALANCE:
            raise ConfigError(f"imbalance={imbalance!r} is not known; use one of {', '.join(IMBALANCE)}")
        if imbalance != "none" and not self.classes:
            raise ConfigError(f"imbalance={imbalance} needs classes, and task {self.kind} has none; set imbalance=none")
        if label_smoothing and not self.takes_label_smoothing:
            raise ConfigError(
                f"regularizer.label_smoothing applies to multiclass tasks only (this is {self.kind}); set it to 0"
            )
        if class_costs is not None and not self.takes_class_costs:
            raise ConfigError(
                f"objective.class_costs applies to multiclass and binary tasks (this is {self.kind}); set it to null"
            )
        self.num_classes, self.label_smoothing, self.class_costs, self.imbalance = (
            num_classes,
            label_smoothing,
            class_costs,
            imbalance,
        )

    # ------------------------------------------------------------- the data side
    @classmethod
    def encode_targets(
        cls, targets: np.ndarray, declared: list | None, train: np.ndarray, splits: dict, factorized=None
    ) -> tuple[torch.Tensor, list[str] | None]:
        """The targets as the source gives them -> (y tensor, class or label names, None for values).
        `train`, `splits`: row indices (a class only dev or test has is an error); `factorized`:
        targets.factorized_labels(targets) when the data module has it. Default: one real value each."""
        return encode_values(cls.kind, targets, factorized)

    @staticmethod
    def num_outputs(num_classes: int | None) -> int:
        """Width of the net's last layer."""
        return 1

    def fit(self, y_train: torch.Tensor) -> None:
        """Statistics of the train targets the loss needs (none by default)."""

    # ------------------------------------------------------------- training
    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (its mean over examples)."""
        return self.per_example_loss(out, y).mean()

    def per_example_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def check_output(self, out: torch.Tensor, batch_size: int) -> str | None:
        """Why the net's output cannot be right for this task (a one-line fix), or None."""
        raise NotImplementedError

    def activation_in_forward(self, out: torch.Tensor) -> str | None:
        """ "What was seen; the fix" when the net applies the loss's own activation (softmax, sigmoid) itself."""
        return None

    expected_output = ""  # what check_output wants, in words

    # ------------------------------------------------------------- predictions and scores
    def predict(self, out: torch.Tensor) -> torch.Tensor:
        """What the metrics score: class ids, 0/1 per label, or values in the target's units."""
        raise NotImplementedError

    def metric_target(self, y: torch.Tensor) -> torch.Tensor:
        """Targets in the form the metrics take."""
        return y.long()

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[N] bool: each example entirely right (the overfit check wants all of them)."""
        return self.predict(out) == y.long()

    def probabilities(self, out: torch.Tensor) -> torch.Tensor | None:
        """[N, C] class probabilities (for binary: [1-p, p]; multilabel: p per label), or None."""
        return None

    def from_other(self, other: Task, out: torch.Tensor) -> torch.Tensor:
        """Another model's output (of this kind) in this model's terms, for an ensemble whose
        members were fitted on different train statistics (a regression's standardization)."""
        return out

    def combine(self, outs: list[torch.Tensor]) -> torch.Tensor:
        """An ensemble's output (M24), as one model's: averaged probabilities back as logits."""
        return torch.stack(outs).mean(0)

    def prediction_columns(self, out: torch.Tensor, class_name) -> list[dict]:
        """predict.py's columns per example: the prediction, and for classes its confidence and
        the probability of each class (up to 20), named by class_name(id)."""
        pred, probs = self.predict(out), self.probabilities(out)
        rows = []
        for i in range(len(out)):
            if probs is None:
                rows.append({"prediction": float(pred[i])})
                continue
            p = probs[i]
            row = {"prediction": class_name(pred[i]), "confidence": round(float(p.max()), 4)}
            if len(p) <= 20:
                row.update({f"p_{class_name(c)}": round(float(p[c]), 4) for c in range(len(p))})
            rows.append(row)
        return rows

    def metrics(self) -> torchmetrics.MetricCollection:
        raise NotImplementedError

    # ------------------------------------------------------------- the constant predictor
    def prior(self, y_train: torch.Tensor) -> torch.Tensor:
        """The best input-independent prediction, in the units predict() reports."""
        raise NotImplementedError

    def constant_output(self, y_train: torch.Tensor | None, n: int) -> torch.Tensor:
        """[n, outputs] net output of the best constant predictor (the prior); all zeros when
        y_train is None (what an untrained net with a small last layer outputs)."""
        raise NotImplementedError

    def prior_bias(self, y_train: torch.Tensor) -> torch.Tensor:
        """The output layer's bias that makes an untrained net predict the prior."""
        return self.constant_output(y_train, 1)[0]

    def prior_loss(self, y_train: torch.Tensor) -> float:
        """Loss of the best constant prediction on these targets: what an untrained model should score."""
        return float(self.per_example_loss(self.constant_output(y_train, len(y_train)), y_train).mean())

    def describe_constant(self, from_prior: bool) -> str:
        """What an untrained model predicts, in words (the initial-loss check's message)."""
        return f"the {self.prior_name}" if from_prior else "a constant 0 output"

    def describe_target(self, y: torch.Tensor, class_name) -> str | float:
        """One target as a person reads it (reports, CSVs): a value, a class name, or labels."""
        return round(float(y), 6)

    # ------------------------------------------------------------- the data checks
    target_form = "one real target per example"  # what label_problem wants, in words
    label_remedy = "give one real target per example, shape [N]"

    def label_problem(self, y: torch.Tensor) -> str | None:
        """What is wrong with these targets for this task (a short phrase; label_remedy says the fix), or None."""
        return None

    def class_counts(self, y: torch.Tensor) -> torch.Tensor | None:
        """Examples per class (positives per label), or None for a task without classes."""
        return None
