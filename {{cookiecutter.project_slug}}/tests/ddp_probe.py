"""A callback for the multi-node test (test_multinode.py), added on the command line with
+callbacks.probe._target_=ddp_probe.RecordExamples +callbacks.probe.out=DIR: each rank writes the
example indices of every training batch it took, per epoch, and a digest of its weights at the end."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class RecordExamples(Callback):
    def __init__(self, out: str):
        self.out = Path(out)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / f"rank{trainer.global_rank}_epoch{trainer.current_epoch}.txt", "a") as f:
            f.write("".join(f"{int(i)}\n" for i in batch[2]))

    def on_train_end(self, trainer, pl_module) -> None:
        digest = hashlib.sha256()
        for name, tensor in sorted(pl_module.state_dict().items()):
            digest.update(name.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
        (self.out / f"rank{trainer.global_rank}_weights.txt").write_text(digest.hexdigest())
