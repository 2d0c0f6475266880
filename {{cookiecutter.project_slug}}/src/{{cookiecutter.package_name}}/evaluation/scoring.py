"""Scores of a model on the development splits through the one inference path: every metric of
the task, the loss, and the objective's error (what the diagnosis compares). The test split is
scored only when evaluate.py asks for it."""

from __future__ import annotations

import torch

from ..tasks import Task
from ..tasks.classes import WeightedError
from .inference import predict
from .objective import Objective


def split_scores(task: Task, out: torch.Tensor, y: torch.Tensor, objective: Objective) -> dict:
    """Every metric of the task on one split, the loss, and the objective's error."""
    metrics = task.metrics()
    metrics.update(task.predict(out), task.metric_target(y))
    scores = {k: float(v) for k, v in metrics.compute().items()}
    scores["loss"] = float(task.per_example_loss(out, y).mean())
    if objective.class_costs is not None and task.takes_class_costs:
        weighted = WeightedError(objective.class_costs)
        weighted.update(task.predict(out), task.metric_target(y))
        scores["weighted_error"] = float(weighted.compute())
        scores["error"] = scores["weighted_error"]
    else:
        scores["error"] = objective.error(scores.get(objective.metric))
    scores["n"] = len(y)
    return scores


def evaluate_splits(models, datamodule, task: Task, objective: Objective, splits=("train", "train_dev", "dev")):
    """(split -> scores, split -> Predictions). Pass "test" only from evaluate.py (the vault's door)."""
    predictions = {name: predict(models, datamodule.loader(name)) for name in splits}
    return {name: split_scores(task, p.out, p.y, objective) for name, p in predictions.items()}, predictions


def baseline_scores(task: Task, datamodule, objective: Objective, splits=("train", "train_dev", "dev")) -> dict:
    """The dumb baseline (M1): the best prediction that ignores the input, fitted on train (the
    class shares, the mean target), scored like the model on each split. A model that does not
    beat it on dev has learned nothing from the inputs."""
    y_train = datamodule.targets("train")
    scores = {}
    for split in splits:
        y = datamodule.targets(split)
        scores[split] = split_scores(task, task.constant_output(y_train, len(y)), y, objective)
    return scores
