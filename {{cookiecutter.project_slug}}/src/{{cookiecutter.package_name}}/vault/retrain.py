"""The final model (M8): the chosen config trained afresh on train + dev (evaluate.py retrain=true)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..evaluation.runs import LoadedRun


def retrain_on_train_and_dev(run: LoadedRun, out_dir: Path) -> Path:
    """Train the run's config afresh on train + dev, for as many epochs as its selected
    checkpoint had, with no dev-based selection (dev is training data now). Returns the
    final checkpoint, saved in out_dir/checkpoints/final.ckpt beside a copy of the config."""
    from ..build import build_retraining
    from ..training.callbacks.run_recorder import RunRecorder

    epochs = int(run.checkpoint["epoch"]) + 1
    datamodule, model, trainer = build_retraining(run.run_dir, out_dir, epochs, callbacks=[RunRecorder(str(out_dir))])
    print(
        f"Retraining on train + dev ({datamodule.size('train')} examples) for {epochs} epochs, as the selected checkpoint had"
    )
    trainer.fit(model, datamodule=datamodule)
    final = out_dir / "checkpoints" / "final.ckpt"
    trainer.save_checkpoint(final, weights_only=False)
    trainer.strategy.checkpoint_io.teardown()  # an asynchronous writer (configs/trainer) finishes the file now
    return final
