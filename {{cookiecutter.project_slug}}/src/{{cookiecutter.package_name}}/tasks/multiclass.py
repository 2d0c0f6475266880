"""multiclass: C logits, softmax cross-entropy; the prior is the train class shares."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchmetrics

from ..common import ConfigError
from .classes import ClassTask


class Multiclass(ClassTask):
    kind = "multiclass"
    loss_name = "softmax cross-entropy"
    takes_label_smoothing = True

    def __init__(self, num_classes=None, label_smoothing: float = 0.0, class_costs=None, imbalance: str = "none"):
        if num_classes is None or num_classes < 2:
            raise ConfigError(f"task multiclass needs data.num_classes >= 2, got {num_classes}")
        super().__init__(num_classes, label_smoothing, class_costs, imbalance)

    @staticmethod
    def num_outputs(num_classes):
        return num_classes

    @property
    def label_remedy(self):
        return f"multiclass labels must be 0..{self.num_classes - 1}: remap them in the data source, or set data.num_classes"

    @property
    def expected_output(self):
        return f"[B, {self.num_classes}] logits"

    def loss(self, out, y):
        weight = self.class_weights.to(out.dtype) if self.imbalance == "class_weights" else None
        return F.cross_entropy(out, y.long(), weight=weight, label_smoothing=self.label_smoothing)

    def per_example_loss(self, out, y):
        return F.cross_entropy(out, y.long(), reduction="none")

    def check_output(self, out, batch_size):
        if list(out.shape) != [batch_size, self.num_classes]:
            return (
                f"task multiclass with {self.num_classes} classes needs net outputs of shape [batch, {self.num_classes}], "
                f"got {list(out.shape)}; set the last layer to {self.num_classes} outputs"
            )
        return None

    def activation_in_forward(self, out):
        if (out >= 0).all() and torch.allclose(out.sum(-1), torch.ones(len(out), dtype=out.dtype), atol=1e-4):
            return (
                "outputs are probabilities (rows sum to 1): softmax in forward(); return raw logits, "
                "cross-entropy applies softmax itself"
            )
        if (out <= 0).all() and torch.allclose(out.logsumexp(-1), torch.zeros(len(out), dtype=out.dtype), atol=1e-4):
            return "outputs are log-probabilities: log_softmax in forward(); return raw logits, cross-entropy applies log_softmax itself"
        return None

    def predict(self, out):
        return out.argmax(-1)

    def probabilities(self, out):
        return out.softmax(-1)

    def combine(self, outs):
        return torch.stack([o.softmax(-1) for o in outs]).mean(0).clamp_min(1e-12).log()

    def metrics(self):
        c = self.num_classes
        return self.with_costs(
            {
                "accuracy": torchmetrics.classification.MulticlassAccuracy(c, average="micro"),
                "balanced_accuracy": torchmetrics.classification.MulticlassAccuracy(c, average="macro"),
                "f1": torchmetrics.classification.MulticlassF1Score(c, average="macro"),
            }
        )

    def constant_output(self, y_train, n):
        out = torch.zeros(n, self.num_classes)
        if y_train is not None:
            out += self.prior(y_train).clamp_min(1e-6).log()
        return out

    def describe_constant(self, from_prior):
        return (
            "the class prior"
            if from_prior
            else f"uniform classes (ln({self.num_classes}) = {math.log(self.num_classes):.4g})"
        )
