"""One object per task kind (M16): what the model outputs, how it is trained and scored.

  multiclass  C logits       softmax cross-entropy        accuracy, balanced_accuracy, f1
  binary      1 logit        sigmoid + binary CE          accuracy, balanced_accuracy, f1
  multilabel  L logits       a sigmoid + BCE per label,   accuracy, balanced_accuracy, f1
                             missing labels (NaN) masked  (over the labels present)
  regression  1 value        MSE on standardized targets  mae, mse (in the target's units)

Everything else (the model, the checks, the diagnosis, error analysis, ensembles, predict)
asks the task object and never compares the kind's name. A new kind is one new file in
this folder: a subclass of Task with its `kind` (see base.py for what it answers).
"""

from __future__ import annotations

import importlib
import pkgutil

from ..common import ConfigError
from .base import HIGHER_IS_BETTER, IMBALANCE, Task

# Each module of this package defines one kind; importing it registers it (Task.__init_subclass__).
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

KINDS = tuple(Task.registry)


def task_class(kind: str) -> type[Task]:
    if kind not in Task.registry:
        raise ConfigError(f"data.task={kind!r} is not supported; use auto or one of {', '.join(KINDS)}")
    return Task.registry[kind]


def make_task(kind: str, num_classes: int | None = None, **options) -> Task:
    """The task object of a kind (options: label_smoothing, class_costs, imbalance)."""
    return task_class(kind)(num_classes, **options)


__all__ = [
    "HIGHER_IS_BETTER",
    "IMBALANCE",
    "KINDS",
    "Task",
    "make_task",
    "task_class",
]
