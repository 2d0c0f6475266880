"""Goals (M1-M3): one optimizing metric, its target, satisficing constraints, weighted error.

In configs/train.yaml:

    objective:
      metric: accuracy            # the one metric to optimize (dev/<metric> picks checkpoints)
      mode: max
      target: 0.98                # where you need to be (paper, product); reports show the distance
      human_error: 0.01           # Bayes-error proxy in error units, for the diagnosis; null = unknown
      satisficing: ["params <= 1e6", "latency_ms <= 5", "dev/f1 >= 0.9"]   # or {params: "<= 1e6", ...}
      class_costs: null           # e.g. [1, 1, 10, 1, ...]: per-class cost of an error (weighted error)

A satisficing constraint is `name op number`. Names measured by the project:
  params      trainable parameters
  size_mb     parameter memory in MB
  latency_ms  forward time of one example (batch of 1) on the training device, eval mode, one CPU
              thread, after warm-up: the median of 7 block medians (latency_ms_spread: their IQR)
or any metric the model logs per epoch, e.g. dev/f1, train_dev/loss.
A checkpoint that violates any constraint is never selected as "best".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..common import ConfigError
from ..tasks import HIGHER_IS_BETTER, task_class
from .constraints import STATIC, Constraint, parse_constraints


@dataclass
class Objective:
    metric: str
    mode: str
    target: float | None = None
    human_error: float | None = None
    constraints: list[Constraint] = field(default_factory=list)
    class_costs: list[float] | None = None

    @classmethod
    def from_dict(cls, settings: dict) -> Objective:
        """From the objective block as plain values (build.objective_of gives it so)."""
        get = settings.get
        costs = get("class_costs")
        if costs is not None:
            costs = [float(c) for c in costs]
            if any(c < 0 for c in costs) or not any(c > 0 for c in costs):
                raise ConfigError(f"objective.class_costs={costs}: costs must be >= 0 and not all 0")
        target, human = (
            _number(get("target"), "objective.target", "e.g. objective.target=0.98"),
            _number(get("human_error"), "objective.human_error", "an error, e.g. objective.human_error=0.01 for 1%"),
        )
        if human is not None and human < 0:
            raise ConfigError(
                f"objective.human_error={human} is an error rate (e.g. 0.01 for 1%); it cannot be negative"
            )
        return cls(
            metric=get("metric"),
            mode=get("mode"),
            target=target,
            human_error=human,
            constraints=parse_constraints(get("satisficing")),
            class_costs=costs,
        )

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER.get(self.metric, self.mode == "max")

    def error(self, score: float | None) -> float | None:
        """The optimizing metric as an error (lower is better): 1 - accuracy, or the loss/MAE itself."""
        if score is None:
            return None
        return 1.0 - score if self.higher_is_better else score

    def target_report(self, dev_score: float | None) -> str | None:
        """'dev accuracy 0.9500, target 0.9800: 0.0300 short' (M2)."""
        if self.target is None or dev_score is None:
            return None
        short = (self.target - dev_score) if self.higher_is_better else (dev_score - self.target)
        state = f"{short:.4g} short of it" if short > 0 else "target reached"
        return f"dev {self.metric} {dev_score:.4f}, target {self.target:g}: {state}"


def _number(value, key: str, example: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={value!r} is not a number; {example}, or null") from None


# --------------------------------------------------------------------------- measurements
def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def measure_latency_ms(model: torch.nn.Module, example: torch.Tensor, blocks: int = 7, per_block: int = 15) -> dict:
    """Forward time of one example (batch of 1) in eval mode, in milliseconds, made stable
    enough to select checkpoints by: warm-up passes first, one CPU thread (so the figure does
    not depend on how many cores other work leaves free), and the median of `blocks` block
    medians. `spread` is the interquartile range of the block medians: a large one says the
    machine was busy while measuring."""
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    x = example[:1]
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    if not x.is_cuda:
        torch.set_num_threads(1)
    try:
        for _ in range(10):
            model(x)
        medians = []
        for _ in range(blocks):
            times = []
            for _ in range(per_block):
                sync()
                start = time.perf_counter()
                model(x)
                sync()
                times.append((time.perf_counter() - start) * 1000)
            medians.append(sorted(times)[len(times) // 2])
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    medians.sort()
    q1, q3 = medians[len(medians) // 4], medians[(3 * len(medians)) // 4]
    return {"latency_ms": float(medians[len(medians) // 2]), "latency_ms_spread": float(q3 - q1)}


def measure_static(model: torch.nn.Module, example: torch.Tensor | None, names=STATIC) -> dict:
    values = {"params": count_params(model)}
    values["size_mb"] = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
    if "latency_ms" in names and example is not None:
        values.update(measure_latency_ms(model, example))
    return values


# --------------------------------------------------------------------------- objective.metric=auto, checked against the task
AUTO = "auto"


def resolved(metric: str, mode: str, task: str, say: bool = True) -> tuple[str, str]:
    """objective.metric=auto / objective.mode=auto (the defaults) as the task's own: accuracy for
    classes, mae for regression; the mode follows the metric. Said in one line when say=True.
    build.resolve_objective writes what this returns into the config, so that everything that
    reads it afterwards (checkpointing, early stopping, reports, the summary) sees a real metric."""
    if metric != AUTO and mode != AUTO:
        return metric, mode
    cls, said = task_class(task), say and metric == AUTO
    if metric == AUTO:
        metric = cls.default_objective[0]
    if mode == AUTO:
        mode = "max" if HIGHER_IS_BETTER.get(metric, True) else "min"
    if said:
        print(
            f"objective: {metric} ({mode}), the default for task {task}; "
            f"objective.metric=... picks another (one of {', '.join((*cls.metric_names, 'loss'))})"
        )
    return metric, mode


def validate_for_task(objective: Objective, task: str) -> None:
    """The objective (auto resolved) against the task the data turned out to be (data.task may be auto)."""
    cls = task_class(task)
    metric, mode = objective.metric, objective.mode
    names = (*cls.metric_names, "loss")
    if metric not in names:
        good, good_mode = cls.default_objective
        raise ConfigError(
            f"objective.metric={metric!r} is not measured for task {task} (of this data); use one of "
            f"{', '.join(names)}, e.g. objective.metric={good} objective.mode={good_mode}"
        )
    if metric == "weighted_error" and objective.class_costs is None:
        raise ConfigError(
            "objective.metric=weighted_error needs objective.class_costs, e.g. objective.class_costs=[1,10]"
        )
    expected = "max" if HIGHER_IS_BETTER[metric] else "min"
    if mode != expected:
        raise ConfigError(
            f"objective.mode={mode!r} but {metric} is better when "
            f"{'higher' if expected == 'max' else 'lower'}; set objective.mode={expected}"
        )
    human = objective.human_error
    bounded = HIGHER_IS_BETTER[metric] or metric == "weighted_error"  # the error is 1 - score, or a rate
    if human is not None and bounded and not 0 <= human < 1:
        raise ConfigError(
            f"objective.human_error={human:g} but the error here is 1 - {metric}, a rate in [0, 1); "
            "give it as a fraction, e.g. objective.human_error=0.05 for 5%"
        )
    logged = [
        f"{split}/{m}"
        for split in ("train", "train_dev", "dev")
        for m in names
        if m != "weighted_error" or objective.class_costs is not None
    ]
    for constraint in objective.constraints:
        if constraint.name not in STATIC and constraint.name not in logged:
            raise ConfigError(
                f"objective.satisficing: {constraint.name!r} is never measured for task {task}; "
                f"use {', '.join(STATIC)} or one of {', '.join(logged)}"
            )
