"""The two checkpoints of a run (configs/callbacks/default.yaml): best.ckpt, selected on the dev
metric among epochs that meet every satisficing constraint, and last.ckpt, what a run resumes from."""

from __future__ import annotations

import time
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from ...evaluation.constraints import STATIC, check_constraints, parse_constraints
from ...evaluation.objective import Objective, measure_static


# --------------------------------------------------------------------------- weighted error (M3)
# --------------------------------------------------------------------------- selection
class ConstrainedCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that never calls a checkpoint "best" while a satisficing constraint fails.

    Static constraints (params, size, latency) are measured once when fitting starts; metric
    constraints (dev/f1 >= 0.9) are checked every validation. `constraint_log` keeps, per
    epoch, which constraints failed.
    """

    def __init__(self, constraints=(), class_costs=None, **kwargs):
        if class_costs is not None:  # their number is checked against the classes by the task
            Objective.from_dict(
                {"metric": "accuracy", "mode": "max", "class_costs": list(class_costs)}
            )  # validates the values
        super().__init__(**kwargs)
        self.constraints = parse_constraints(constraints)
        self.static: dict = {}
        self.constraint_log: list[dict] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        example = None
        dm = trainer.datamodule
        if dm is not None and dm.spec is not None:
            example = dm.sample("train", 1)[0].to(pl_module.device)
        names = {c.name for c in self.constraints}
        self.static = measure_static(pl_module, example, names)
        failed = [
            r for r in check_constraints([c for c in self.constraints if c.name in STATIC], self.static) if not r["ok"]
        ]
        for row in failed:
            rank_zero_warn(
                f"satisficing constraint {row['constraint']} fails (measured {row['value']:.4g}): "
                "no checkpoint of this run can be selected as best; shrink the model or relax objective.satisficing"
            )

    def violations(self, metrics: dict) -> list[str]:
        values = {**self.static, **{k: float(v) for k, v in metrics.items() if k not in STATIC}}
        return [r["constraint"] for r in check_constraints(self.constraints, values) if not r["ok"]]

    def check_monitor_top_k(self, trainer, current=None) -> bool:
        failed = self.violations(trainer.callback_metrics)
        self.constraint_log.append({"epoch": trainer.current_epoch, "violated": failed})
        if failed:
            rank_zero_info(f"epoch {trainer.current_epoch}: not a candidate for best, violates {', '.join(failed)}")
            return False
        return super().check_monitor_top_k(trainer, current)


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt, what an interrupted run resumes from: written at the end of an epoch once
    `every_s` seconds have passed since the previous write, and always after the final epoch.

    Each write costs milliseconds even in the background (serializing holds Python's lock),
    a real share of an epoch of a small data set. Epochs longer than `every_s` are each
    saved; an interruption loses at most `every_s` seconds plus the epoch under way.
    (ModelCheckpoint's own save_last rewrites last.ckpt only when a new best was saved.)
    """

    def __init__(self, dirpath: str, every_s: float = 30.0):
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1,
                         save_on_train_epoch_end=True, enable_version_counter=False)  # fmt: skip
        self.every_s = float(every_s)
        self._written_at, self._written_step = time.monotonic(), None

    def on_train_start(self, trainer, pl_module) -> None:
        self._written_at = time.monotonic()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Early stopping has already decided (Lightning runs checkpoint callbacks last).
        final = trainer.should_stop or 0 < trainer.max_epochs <= trainer.current_epoch + 1
        if final or time.monotonic() - self._written_at >= self.every_s:
            super().on_train_epoch_end(trainer, pl_module)
            self._written_at, self._written_step = time.monotonic(), trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        if self._written_step != trainer.global_step:  # stopped by max_steps or max_time
            trainer.save_checkpoint(Path(self.dirpath) / "last.ckpt")
