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

from ..config import ConfigError
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


AUTO = "auto"


def resolve_objective(cfg, spec, say: bool = True) -> None:
    """objective.metric=auto / objective.mode=auto (the defaults) become the task's own in cfg
    itself, so everything that reads them afterwards (checkpointing, early stopping, reports,
    the summary) sees a real metric: accuracy for classes, mae for regression. Said in one line."""
    from omegaconf import open_dict

    objective = cfg.objective
    metric, mode = objective.get("metric", AUTO), objective.get("mode", AUTO)
    if metric != AUTO and mode != AUTO:
        return
    cls = task_class(spec.task)
    with open_dict(cfg):
        if metric == AUTO:
            objective.metric = cls.default_objective[0]
        if mode == AUTO:
            objective.mode = "max" if HIGHER_IS_BETTER.get(objective.metric, True) else "min"
    if metric == AUTO and say:
        print(
            f"objective: {objective.metric} ({objective.mode}), the default for task {spec.task}; "
            f"objective.metric=... picks another (one of {', '.join((*cls.metric_names, 'loss'))})"
        )


def validate_objective(cfg, spec) -> None:
    """The objective against the task the data turned out to be (data.task may be auto);
    objective.metric/mode=auto are resolved first (resolve_objective)."""
    resolve_objective(cfg, spec)
    cls = task_class(spec.task)
    metric, mode = cfg.objective.metric, cfg.objective.mode
    names = (*cls.metric_names, "loss")
    if metric not in names:
        good, good_mode = cls.default_objective
        raise ConfigError(
            f"objective.metric={metric!r} is not measured for task {spec.task} (of this data); use one of "
            f"{', '.join(names)}, e.g. objective.metric={good} objective.mode={good_mode}"
        )
    if metric == "weighted_error" and cfg.objective.get("class_costs") is None:
        raise ConfigError(
            "objective.metric=weighted_error needs objective.class_costs, e.g. objective.class_costs=[1,10]"
        )
    expected = "max" if HIGHER_IS_BETTER[metric] else "min"
    if mode != expected:
        raise ConfigError(
            f"objective.mode={mode!r} but {metric} is better when "
            f"{'higher' if expected == 'max' else 'lower'}; set objective.mode={expected}"
        )
    human = cfg.objective.get("human_error")
    bounded = HIGHER_IS_BETTER[metric] or metric == "weighted_error"  # the error is 1 - score, or a rate
    if human is not None and bounded and not 0 <= float(human) < 1:
        raise ConfigError(
            f"objective.human_error={human} but the error here is 1 - {metric}, a rate in [0, 1); "
            "give it as a fraction, e.g. objective.human_error=0.05 for 5%"
        )
    from ..constraints import STATIC, parse_constraints

    logged = [
        f"{split}/{m}"
        for split in ("train", "train_dev", "dev")
        for m in names
        if m != "weighted_error" or cfg.objective.get("class_costs") is not None
    ]
    for constraint in parse_constraints(cfg.objective.get("satisficing")):
        if constraint.name not in STATIC and constraint.name not in logged:
            raise ConfigError(
                f"objective.satisficing: {constraint.name!r} is never measured for task {spec.task}; "
                f"use {', '.join(STATIC)} or one of {', '.join(logged)}"
            )


__all__ = [
    "HIGHER_IS_BETTER",
    "IMBALANCE",
    "KINDS",
    "Task",
    "make_task",
    "resolve_objective",
    "task_class",
    "validate_objective",
]
