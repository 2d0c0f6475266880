"""EpochMetrics: each split's metrics computed once over the whole epoch, the one way the
project computes them. build_trainer puts it first in every trainer, so the callbacks after it
(checkpoints, early stopping, the run recorder, a plateau scheduler, pruning) read this epoch's
values whatever order the config lists them in.

TaskModule's steps return what they computed (outputs, targets, loss). This callback keeps each
split's predictions, targets and loss sums through the epoch, computes the task's metrics on
all of them at its end, and hands the values straight to the other callbacks (checkpoints,
early stopping, the run recorder, a plateau scheduler) and to the loggers. The plain Lightning
way, a torchmetrics update and self.log in every step, cost about 0.7 ms per value on a small
CPU (Lightning wraps each value in a Metric and moves it on every call): a third of the default
model's epoch (docs/maintainers.md has the measurements).

It also stops a run whose training loss became NaN or Inf, naming the first such step, checked
once at the epoch's last batch (so that no step waits for the device) and before anything of
the epoch is validated or saved.
"""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback

from ...common import TrainingFailed


def non_finite_loss(value: float, step: int, epoch: int, batch: int) -> TrainingFailed:
    return TrainingFailed(
        f"the training loss became {value} at step {step} (epoch {epoch}, batch {batch}); nothing of this epoch "
        "was saved. Check the data for NaN/Inf (python check.py checks.only=[data]), then lower optimizer.lr or "
        "add gradient clipping (+trainer.gradient_clip_val=1.0)"
    )


class EpochMetrics(Callback):
    def __init__(self):
        self.pending: dict[str, list] = {}  # split -> this epoch's (predictions, targets, loss sum) per step

    # ------------------------------------------------------------------ collecting
    def _collect(self, pl_module, split: str, outputs: dict) -> None:
        task, out, y = pl_module.task, outputs["out"], outputs["y"]
        self.pending.setdefault(split, []).append(
            (task.predict(out), task.metric_target(y), outputs["task_loss"] * len(y))
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # First of the callbacks (build_trainer): a checkpoint the preemption callback writes at this batch holds it.
        self._collect(pl_module, "train", outputs)
        if batch_idx + 1 == trainer.num_training_batches:
            self._stop_on_non_finite(trainer)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        self._collect(pl_module, outputs["split"], outputs)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        self._collect(pl_module, "test", outputs)

    def _stop_on_non_finite(self, trainer) -> None:
        step_losses = torch.stack([loss for _, _, loss in self.pending.get("train", [])])
        bad = ~torch.isfinite(step_losses)
        if bad.any():
            first = int(bad.nonzero()[0])
            step = trainer.global_step - len(step_losses) + first
            raise non_finite_loss(float(step_losses[first]), step, trainer.current_epoch, first)

    # ------------------------------------------------------------------ publishing
    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Before the run recorder (build_trainer puts this callback first), which reads these values.
        if self.pending.get("train"):
            self._stop_on_non_finite(trainer)  # an epoch of unknown length, or one cut short
        self._publish(trainer, pl_module, ["train"])

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        # While fitting, train is published at the end of its own epoch; a standalone validate
        # (the final scoring of the selected checkpoint) may also score train in eval mode.
        fitting = trainer.state.fn == "fit"
        self._publish(trainer, pl_module, ["train_dev", "dev"] if fitting else ["train", "train_dev", "dev"])

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._publish(trainer, pl_module, ["test"])

    def _publish(self, trainer, pl_module, splits) -> None:
        """<split>/<metric> and <split>/loss of the epoch; torchmetrics sums over DDP ranks in compute()."""
        values = {}
        for split in [s for s in splits if s in self.pending]:
            preds, targets, loss_sums = zip(*self.pending.pop(split))
            metrics, loss = pl_module.metrics[f"{split}_split"], pl_module.losses[f"{split}_split"]
            metrics.update(torch.cat(preds), torch.cat(targets))
            n = sum(len(t) for t in targets)
            loss.update(torch.stack(loss_sums).sum() / n, weight=n)
            values.update({f"{split}/{name}": value for name, value in metrics.compute().items()})
            values[f"{split}/loss"] = loss.compute()
            metrics.reset(), loss.reset()
        if not values or trainer.sanity_checking:  # a sanity check is a smoke test of the loop, not a result
            return
        if trainer.state.fn != "fit":  # a standalone validate or test returns them: through self.log
            pl_module.log_dict(values, on_step=False, on_epoch=True, add_dataloader_idx=False)
            return
        trainer.callback_metrics.update(values)
        scalars = {name: float(value) for name, value in values.items()}
        scalars["epoch"] = trainer.current_epoch
        step = max(trainer.global_step - 1, 0)  # the epoch's last step, as Lightning logs epoch-end values
        for logger in trainer.loggers:  # each flushes to disk on its own schedule, and at the end
            logger.log_metrics(scalars, step=step)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        # A checkpoint written in the middle of an epoch (preemption) keeps its train predictions so far;
        # under DDP every rank's (rank 0 writes the file; each rank takes its own back on resume).
        train = self.pending.get("train") or []
        if not train:
            return {}
        mine = [list(part) for part in zip(*train)]
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return {"pending_train": mine}
        ranks = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(ranks, [[t.cpu() for t in part] for part in mine])
        return {"pending_train": mine, "pending_train_ranks": ranks}

    def load_state_dict(self, state_dict: dict) -> None:
        parts = state_dict.get("pending_train")
        self.pending = {"train": list(zip(*parts))} if parts else {}
        self._ranks = state_dict.get("pending_train_ranks")

    def on_train_start(self, trainer, pl_module) -> None:
        ranks, self._ranks = getattr(self, "_ranks", None), None
        if ranks and len(ranks) == trainer.world_size:  # resumed under DDP: this rank's own predictions
            device = pl_module.device
            self.pending = {"train": list(zip(*[[t.to(device) for t in part] for part in ranks[trainer.global_rank]]))}
