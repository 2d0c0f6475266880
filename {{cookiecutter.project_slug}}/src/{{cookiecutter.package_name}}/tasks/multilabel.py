"""multilabel (M23): L labels per example, each 0 or 1, or missing (NaN).

One logit per label, a sigmoid + binary cross-entropy per label, summed over the labels
that are present: a missing label adds nothing to the loss or its gradient, and the
metrics skip it (torchmetrics' ignore_index). Label names are carried like class names."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchmetrics

from ..common import ConfigError
from .base import Task
from .targets import encode_labels

IGNORE = -1  # a missing label, as the metrics take it


class Multilabel(Task):
    kind = "multilabel"
    metric_names = ("accuracy", "balanced_accuracy", "f1")
    loss_name = "a sigmoid + binary cross-entropy per label, missing labels masked"
    prior_name = "label shares"
    missing_labels = True

    @classmethod
    def encode_targets(cls, targets, declared, train, splits, factorized=None):
        """[N, L] of 0/1 with NaN for a missing label (-1 in the data means missing too), and label names."""
        return encode_labels(targets, declared)

    def __init__(self, num_classes=None, label_smoothing: float = 0.0, class_costs=None, imbalance: str = "none"):
        if num_classes is None or num_classes < 1:
            raise ConfigError(f"task multilabel needs at least one label, got {num_classes}")
        if imbalance == "balanced_sampler":
            raise ConfigError(
                "imbalance=balanced_sampler needs one class per example; for multilabel use imbalance=class_weights"
            )
        super().__init__(num_classes, label_smoothing, class_costs, imbalance)
        self.register_buffer("pos_weight", torch.ones(num_classes))

    @staticmethod
    def num_outputs(num_classes):
        return num_classes

    label_remedy = "give [N, labels] targets of 0/1, with NaN (or -1) where a label is unknown"

    @property
    def target_form(self):
        return f"[N, {self.num_classes}] of 0/1, NaN = missing"

    @property
    def expected_output(self):
        return f"[B, {self.num_classes}] logits, one per label"

    def fit(self, y_train):
        if self.imbalance == "class_weights":
            pos, present = self.class_counts(y_train).double(), (~y_train.isnan()).sum(0).double()
            self.pos_weight.copy_(((present - pos).clamp_min(1) / pos.clamp_min(1)).float())

    def _masked(self, out, y, pos_weight=None):
        present = ~y.isnan()
        losses = F.binary_cross_entropy_with_logits(
            out, torch.where(present, y, 0).to(out.dtype), reduction="none", pos_weight=pos_weight
        )
        return torch.where(present, losses, 0).sum(-1)  # where, not *: a NaN loss of a missing label must not leak

    def loss(self, out, y):
        pos_weight = self.pos_weight.to(out.dtype) if self.imbalance == "class_weights" else None
        return self._masked(out, y, pos_weight).mean()

    def per_example_loss(self, out, y):
        return self._masked(out, y)

    def check_output(self, out, batch_size):
        if list(out.shape) != [batch_size, self.num_classes]:
            return (
                f"task multilabel with {self.num_classes} labels needs net outputs of shape [batch, {self.num_classes}], "
                f"got {list(out.shape)}; set the last layer to {self.num_classes} outputs"
            )
        return None

    def activation_in_forward(self, out):
        if out.numel() >= 8 and ((out > 0) & (out < 1)).all():
            return "all outputs lie in (0, 1): a sigmoid in forward()?; return raw logits, the BCE loss applies the sigmoid itself"
        return None

    def predict(self, out):
        return (out > 0).long()

    def metric_target(self, y):
        return torch.where(y.isnan(), IGNORE, y).long()

    def correct(self, out, y):
        return ((self.predict(out) == y) | y.isnan()).all(-1)

    def probabilities(self, out):
        return out.sigmoid()

    def prediction_columns(self, out, class_name):
        """The labels predicted present (';'-separated) and each label's probability."""
        pred, probs = self.predict(out), self.probabilities(out)
        return [
            {
                "prediction": ";".join(class_name(j) for j in range(self.num_classes) if pred[i, j]),
                **{f"p_{class_name(j)}": round(float(probs[i, j]), 4) for j in range(self.num_classes)},
            }
            for i in range(len(out))
        ]

    def describe_target(self, y, class_name):
        """The labels present, ';'-separated; a missing label as name=?."""
        return ";".join(
            class_name(j) + ("=?" if torch.isnan(y[j]) else "") for j in range(len(y)) if torch.isnan(y[j]) or y[j] == 1
        )

    def combine(self, outs):
        return torch.logit(torch.stack([o.sigmoid() for o in outs]).mean(0), eps=1e-7)

    def metrics(self):
        n = self.num_classes
        return torchmetrics.MetricCollection(
            {
                "accuracy": torchmetrics.classification.MultilabelAccuracy(n, average="micro", ignore_index=IGNORE),
                "balanced_accuracy": MultilabelBalancedAccuracy(n),
                "f1": torchmetrics.classification.MultilabelF1Score(n, average="macro", ignore_index=IGNORE),
            }
        )

    def class_counts(self, y):
        """Positives per label (missing ones not counted)."""
        return torch.nan_to_num(y, nan=0.0).sum(0).long()

    def prior(self, y_train):
        present = (~y_train.isnan()).sum(0).clamp_min(1)
        return self.class_counts(y_train).float() / present

    def constant_output(self, y_train, n):
        out = torch.zeros(n, self.num_classes)
        if y_train is not None:
            out += torch.logit(self.prior(y_train).clamp(1e-6, 1 - 1e-6))
        return out

    def describe_constant(self, from_prior):
        return "the label shares" if from_prior else f"p = 0.5 for each of {self.num_classes} labels (ln 2 each)"

    def label_problem(self, y):
        if y.ndim != 2 or y.shape[1] != self.num_classes:
            return f"targets of shape {list(y.shape)}, expected [N, {self.num_classes}]"
        known = y[~y.isnan()]
        if ((known != 0) & (known != 1)).any():
            return f"label value {float(known[(known != 0) & (known != 1)][0]):g}, expected 0, 1 or NaN (missing)"
        return None


class MultilabelBalancedAccuracy(torchmetrics.Metric):
    """The mean over labels of (recall of 1s + recall of 0s) / 2, over present labels only."""

    higher_is_better = True
    full_state_update = False

    def __init__(self, num_labels: int, **kwargs):
        super().__init__(**kwargs)
        for name in ("tp", "fn", "tn", "fp"):
            self.add_state(name, default=torch.zeros(num_labels, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds, target):
        present = target != IGNORE
        p, t = preds.bool(), target == 1
        self.tp += (present & p & t).sum(0)
        self.fn += (present & ~p & t).sum(0)
        self.tn += (present & ~p & ~t).sum(0)
        self.fp += (present & p & ~t).sum(0)

    def compute(self):
        pos, neg = self.tp + self.fn, self.tn + self.fp
        recalls = [
            torch.where(pos > 0, self.tp / pos.clamp_min(1), torch.nan),
            torch.where(neg > 0, self.tn / neg.clamp_min(1), torch.nan),
        ]
        per_label = torch.stack(recalls).nanmean(0)
        return per_label[~per_label.isnan()].mean().float() if (~per_label.isnan()).any() else torch.tensor(0.0)
