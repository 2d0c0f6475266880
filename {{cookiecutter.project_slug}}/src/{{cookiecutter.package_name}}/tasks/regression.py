"""regression: one value per example, mean squared error on standardized targets.

The targets are standardized with the train mean and std (fitted in fit(), kept in the
checkpoint): the net learns values around 0 with unit spread whatever the units, so the
initial-loss and overfit checks mean the same for a price in dollars as for one in 1e6
dollars. predict() turns the output back into the target's own units, so every metric,
report and prediction is in the user's units; the loss stays in standardized units."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchmetrics

from .base import Task


class Regression(Task):
    kind = "regression"
    metric_names = ("mae", "mse")
    default_objective = ("mae", "min")
    classes = False
    loss_name = "mean squared error (standardized targets)"
    prior_name = "mean target"
    expected_output = "[B] or [B,1] value"

    def __init__(self, num_classes=None, label_smoothing: float = 0.0, class_costs=None, imbalance: str = "none"):
        super().__init__(None, label_smoothing, class_costs, imbalance)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def fit(self, y_train):
        y = y_train.double()
        std = float(y.std(unbiased=False)) if len(y) > 1 else 0.0
        self.target_mean.fill_(float(y.mean()) if len(y) else 0.0)
        self.target_std.fill_(
            std if std > 1e-12 * max(1.0, abs(float(self.target_mean))) else 1.0
        )  # a constant target: no scaling

    def standardized(self, y, dtype):
        return ((y.to(torch.float64) - self.target_mean.double()) / self.target_std.double()).to(dtype)

    def per_example_loss(self, out, y):
        return F.mse_loss(out.reshape(-1), self.standardized(y, out.dtype), reduction="none")

    def check_output(self, out, batch_size):
        if list(out.shape) not in ([batch_size], [batch_size, 1]):
            return (
                "task regression needs one output per example ([batch] or [batch, 1]), got "
                f"{list(out.shape)}; give the last layer 1 output"
            )
        return None

    def predict(self, out):
        return out.reshape(-1) * self.target_std.to(out.dtype) + self.target_mean.to(out.dtype)

    def from_other(self, other, out):
        return (other.predict(out) - self.target_mean.to(out.dtype)) / self.target_std.to(out.dtype)

    def metric_target(self, y):
        return y.float()

    def correct(self, out, y):
        return torch.ones(len(y), dtype=torch.bool)  # no "right": the overfit check looks at the loss alone

    def metrics(self):
        return torchmetrics.MetricCollection(
            {"mae": torchmetrics.MeanAbsoluteError(), "mse": torchmetrics.MeanSquaredError()}
        )

    def prior(self, y_train):
        return y_train.float().mean().reshape(1)

    def constant_output(self, y_train, n):
        out = torch.zeros(n, 1)
        if y_train is not None:
            out += self.standardized(y_train.float().mean(), torch.float32)
        return out

    def describe_constant(self, from_prior):
        return "the mean target" if from_prior else "output 0 (the train mean, in standardized units)"

    def label_problem(self, y):
        if y.ndim != 1:
            return f"targets of shape {list(y.shape)}, expected one value per example [N]"
        return None
