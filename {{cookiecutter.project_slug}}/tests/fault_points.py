"""A callback that sends its own process a signal at a chosen training step: the faults of
test_faults.py, put into a real run from the command line (`+callbacks.fault=...`).
Importable without the test suite (no conftest), since the run is a separate process."""

import os
import signal
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class SignalAtStep(Callback):
    """Once: `marker` is written first, so the resumed run (same command, same config) goes on."""

    def __init__(self, step: int, signal_name: str, marker: str, rank: int | None = None):
        self.step, self.signum, self.marker = int(step), getattr(signal, signal_name), Path(marker)
        self.rank = rank  # under DDP: only this global rank signals itself (None: every rank)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.rank is not None and trainer.global_rank != self.rank:
            return
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.write_text(str(self.step))
            os.kill(os.getpid(), self.signum)
