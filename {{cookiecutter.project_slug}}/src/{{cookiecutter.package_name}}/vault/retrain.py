"""The final model (M8): the chosen config trained afresh on train + dev (evaluate.py retrain=true)."""

from __future__ import annotations

import copy
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict


def retrain_on_train_and_dev(cfg: DictConfig, checkpoint: dict, out_dir: Path) -> Path:
    """Train the chosen config afresh on train + dev, for as many epochs as the selected
    checkpoint had, with no dev-based selection (dev is training data now). Returns the
    final checkpoint, saved in out_dir/checkpoints/final.ckpt beside a copy of the config."""
    import lightning as L

    from ..build import build_datamodule, build_model, build_trainer
    from ..training.callbacks.run_recorder import RunRecorder

    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out_dir)
    epochs = int(checkpoint["epoch"]) + 1
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.train_on_train_and_dev()
    plateau = cfg.get("scheduler") and "ReduceLROnPlateau" in str(cfg.scheduler.get("_target_", ""))
    if plateau:
        print("note: the plateau scheduler watches dev, which is training data now; retraining without it")
    model = build_model(cfg, datamodule.spec, scheduler=not plateau)
    trainer = build_trainer(
        cfg,
        callbacks=[RunRecorder(str(out_dir))],  # and EpochMetrics, which build_trainer adds first
        logger=False,
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(out_dir),
    )
    print(
        f"Retraining on train + dev ({datamodule.size('train')} examples) for {epochs} epochs, as the selected checkpoint had"
    )
    trainer.fit(model, datamodule=datamodule)
    final = out_dir / "checkpoints" / "final.ckpt"
    trainer.save_checkpoint(final, weights_only=False)
    trainer.strategy.checkpoint_io.teardown()  # an asynchronous writer (configs/trainer) finishes the file now
    (out_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (out_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return final
