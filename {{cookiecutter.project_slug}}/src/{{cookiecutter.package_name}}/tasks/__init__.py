"""One object per task kind (M16): what the model outputs, how it is trained and scored.

  multiclass  C logits       softmax cross-entropy        accuracy, balanced_accuracy, f1
  binary      1 logit        sigmoid + binary CE          accuracy, balanced_accuracy, f1
  multilabel  L logits       a sigmoid + BCE per label,   accuracy, balanced_accuracy, f1
                             missing labels (NaN) masked  (over the labels present)
  regression  1 value        MSE on standardized targets  mae, mse (in the target's units)

    base.py      what every kind answers (Task): targets, loss, metrics, prior, checks
    classes.py   what the class kinds share (class weights, weighted error); targets.py:
                 data.task=auto and the target encodings the kinds share
    binary.py multiclass.py multilabel.py regression.py   one kind each

Everything else (the data, the model, the checks, the diagnosis, error analysis, ensembles,
predict) asks the task object and never compares the kind's name. Your own kind (your loss)
is a subclass of Task (or of Multiclass, Regression, ...) with its own `kind`, in a module of
user/: the registry imports that folder when a kind is first asked for (data.task=<kind>).

May import: common.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..common import ConfigError, import_user_modules
from .base import HIGHER_IS_BETTER, IMBALANCE, Task

# Each module of this package defines at most one kind; importing it registers it (Task.__init_subclass__).
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def kinds() -> tuple[str, ...]:
    """Every task kind: the recipe's four, then those defined in user/."""
    import_user_modules()
    return tuple(Task.registry)


def task_class(kind: str) -> type[Task]:
    if kind not in kinds():
        raise ConfigError(f"data.task={kind!r} is not supported; use auto or one of {', '.join(kinds())}")
    return Task.registry[kind]


def make_task(kind: str, num_classes: int | None = None, **options) -> Task:
    """The task object of a kind (options: label_smoothing, class_costs, imbalance)."""
    return task_class(kind)(num_classes, **options)


__all__ = ["HIGHER_IS_BETTER", "IMBALANCE", "Task", "kinds", "make_task", "task_class"]
