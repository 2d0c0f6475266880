"""An example of your own task kind (your own loss), yours to edit or delete.

    python train.py data=diabetes data.task=huber

A kind is a subclass of Task, or of one of the recipe's kinds (tasks/: Multiclass, Binary,
Multilabel, Regression), with its own `kind` name; defining it here registers it. It inherits
everything it does not change: here the targets, metrics (mae, mse, in the target's units),
the prior and the checks of regression, with the Huber loss in place of the squared error.
The Huber loss is squared within `delta` of the target and linear beyond it, so a few wild
targets (typos, outliers) pull the fit less than under the squared error.
"""

from __future__ import annotations

import torch.nn.functional as F

from {{cookiecutter.package_name}}.tasks.regression import Regression


class HuberRegression(Regression):
    kind = "huber"
    loss_name = "Huber loss (standardized targets, delta 1 std)"
    delta = 1.0  # in standardized units: one standard deviation of the train targets

    def per_example_loss(self, out, y):
        return F.huber_loss(out.reshape(-1), self.standardized(y, out.dtype), reduction="none", delta=self.delta)
