"""Inside a sweep's training job: report dev/<metric> each epoch to the trial, stop early
when the study's pruner says the trial is worse than its peers at the same epoch.

The sweep configs add this callback; outside a sweep (no `sweep_trial`) it does nothing.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info


class SweepTrialCallback(Callback):
    def __init__(self, monitor: str, trial: Any = None):
        super().__init__()
        self.monitor = monitor
        self.info = dict(trial) if trial else None
        self.trial = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.info is None or self.trial is not None or not trainer.is_global_zero:
            return
        from .sweeper import LIVE_TRIALS

        self.trial = LIVE_TRIALS.get(int(self.info["id"])) or self._load()

    def _load(self):
        """A job in another process (submitit, SLURM): open the study from its storage."""
        import optuna
        from hydra.core.hydra_config import HydraConfig

        from .sweeper import make_pruner

        sweeper = HydraConfig.get().sweeper if HydraConfig.initialized() else {}
        storage = self.info.get("storage") or sweeper.get("storage")
        from .studies import with_driver

        study = optuna.load_study(
            study_name=self.info["study"], storage=with_driver(storage), pruner=make_pruner(sweeper.get("pruner"))
        )
        return optuna.trial.Trial(study, int(self.info["id"]))

    def on_fit_start(self, trainer, pl_module) -> None:
        if self.trial is not None:
            self.trial.set_user_attr("params", sum(p.numel() for p in pl_module.parameters() if p.requires_grad))

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.trial is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_epoch", epoch)
            trainer.should_stop = True
            rank_zero_info(
                f"trial {self.trial.number} pruned at epoch {epoch}: {self.monitor}={float(value):.4f} is behind the other trials"
            )
