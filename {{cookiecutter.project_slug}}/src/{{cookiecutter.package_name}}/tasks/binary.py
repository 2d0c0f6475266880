"""binary: one logit, sigmoid + binary cross-entropy; the prior is the train share of class 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchmetrics

from ..common import ConfigError
from .classes import ClassTask


class Binary(ClassTask):
    kind = "binary"
    loss_name = "sigmoid + binary cross-entropy"
    expected_output = "[B] or [B,1] logit"
    label_remedy = "binary labels must be 0/1 (use data.task=multiclass for more classes)"

    @classmethod
    def encode_targets(cls, targets, declared, train, splits, factorized=None):
        y, names = super().encode_targets(targets, declared, train, splits, factorized)
        if len(names) != 2:
            raise ConfigError(
                f"data.task=binary but the target has {len(names)} classes; use data.task=multiclass (or auto)"
            )
        return y, names

    def outputs_from_probabilities(self, probs):
        return torch.logit(probs[:, 1], eps=1e-7).reshape(-1, 1)

    def loss(self, out, y):
        # class weights become pos_weight: a positive weighs n_negative / n_positive times a negative
        pos_weight = (
            (self.class_weights[1] / self.class_weights[0]).to(out.dtype) if self.imbalance == "class_weights" else None
        )
        return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype), pos_weight=pos_weight)

    def per_example_loss(self, out, y):
        return F.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype), reduction="none")

    def check_output(self, out, batch_size):
        if list(out.shape) not in ([batch_size], [batch_size, 1]):
            return (
                f"task binary needs one output per example ([batch] or [batch, 1]), got {list(out.shape)}; "
                "use data.task=multiclass for several classes"
            )
        return None

    def activation_in_forward(self, out):
        if len(out) >= 8 and ((out > 0) & (out < 1)).all():
            return (
                f"all {len(out)} outputs lie in (0, 1): a sigmoid in forward()?; return the raw logit, "
                "the BCE loss applies the sigmoid itself"
            )
        return None

    def predict(self, out):
        return (out.reshape(-1) > 0).long()

    def probabilities(self, out):
        p = out.reshape(-1).sigmoid()
        return torch.stack([1 - p, p], 1)

    def combine(self, outs):
        return torch.logit(torch.stack([o.sigmoid() for o in outs]).mean(0), eps=1e-7)

    def metrics(self):
        return self.with_costs(
            {
                "accuracy": torchmetrics.classification.BinaryAccuracy(),
                "balanced_accuracy": torchmetrics.classification.MulticlassAccuracy(2, average="macro"),
                "f1": torchmetrics.classification.BinaryF1Score(),
            }
        )

    def constant_output(self, y_train, n):
        out = torch.zeros(n, 1)
        if y_train is not None:
            out += torch.logit(y_train.float().mean().clamp(1e-6, 1 - 1e-6))
        return out

    def describe_constant(self, from_prior):
        return "the class prior" if from_prior else "p = 0.5 (ln 2 = 0.6931)"
