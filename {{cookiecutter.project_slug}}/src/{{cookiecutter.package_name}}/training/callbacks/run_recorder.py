"""history.json: every epoch's metrics, for the learning curves and the diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class RunRecorder(Callback):
    """history.json in the run directory: every epoch's metrics, for the learning curves.

    The history travels in the callback's state inside last.ckpt, so a resumed run continues
    exactly the epochs its checkpoint holds. The file is written when training ends, or
    fails, rather than every epoch: rewriting it each epoch cost as much as a small
    model's optimizer steps.
    """

    def __init__(self, output_dir: str):
        self.path = Path(output_dir) / "history.json"
        self.history: list[dict] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        row = {"epoch": trainer.current_epoch}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1})
        self.history = [h for h in self.history if h["epoch"] < trainer.current_epoch] + [row]

    def on_train_end(self, trainer, pl_module) -> None:
        self.write(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.write(trainer)

    def write(self, trainer) -> None:
        if trainer.is_global_zero and self.history:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.history, indent=1))

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))
