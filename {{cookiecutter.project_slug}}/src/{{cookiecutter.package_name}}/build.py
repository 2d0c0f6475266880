"""The one place that turns a composed config into the data module, the model and the trainer.

train.py, check.py, evaluate.py (retrain), diagnose.py, predict.py and the benchmarks all
build through here, so a model is the same object whichever command made it. The data is
built first: its spec (task, classes, input shape), read off the source, decides the model's
output layer, loss and metrics; the config never has to repeat it.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from .common import ConfigError
from .data.datamodule import FourSplitDataModule
from .data.interface import DataInterface, DataSpec
from .evaluation.objective import validate_objective

if TYPE_CHECKING:
    import lightning as L

    from .model.task_module import TaskModule

AUTO = "auto"  # a net config key with this value is filled in from the data spec


def build_datamodule(cfg: DictConfig, setup: bool = True) -> DataInterface:
    """The data module of cfg.data (FourSplitDataModule, or data._target_'s: StreamingDataModule),
    set up (its spec known) unless setup=False. Consumers use it through DataInterface alone.

    Keys of cfg.data that the data module does not take (data.path, data.target, ...) are
    the source's own settings: configs/data/*.yaml forward them with ${data.<key>}."""
    from .data.examples import ensure_example

    ensure_example(cfg)  # +experiment=table_example on a fresh project: its data is written first
    data = cfg.data
    target = data.get("_target_")
    cls = FourSplitDataModule
    if target and target != f"{cls.__module__}.{cls.__qualname__}":
        from hydra.utils import get_class

        cls = get_class(target)
    taken = set(inspect.signature(cls.__init__).parameters)
    source_yaml = OmegaConf.to_yaml(data.get("source") or {}, resolve=False)
    forwarded = [k for k in data if not str(k).startswith("_") and k not in taken]
    stray = [k for k in forwarded if "${data." + str(k) + "}" not in source_yaml]
    if stray and not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
        raise ConfigError(
            f"data.{stray[0]} is neither a setting of {cls.__name__} nor forwarded to data.source; remove it"
        )
    try:  # resolved here, inside cfg, so that ${data.path} and ${seed} still find their values
        plain = OmegaConf.to_container(data, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as e:
        key = str(e.full_key) if e.full_key else "a data key"
        raise ConfigError(f"{key} is required and has no value; give it on the command line, e.g. {key}=...") from None
    settings = {k: v for k, v in plain.items() if k not in forwarded or k in stray}
    if "imbalance" in taken:  # a top-level switch (M25): the sampler is the data's, the class weights the model's
        settings["imbalance"] = cfg.get("imbalance", "none")
    datamodule = unwrapped(instantiate, settings)
    if setup:
        datamodule.setup("fit")
    return datamodule


def unwrapped(fn, *args, **kwargs):
    """fn(...), with a ConfigError that Hydra's instantiate wrapped raised as itself."""
    try:
        return fn(*args, **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, ConfigError):
            raise e.__cause__ from None
        raise


def build_model(cfg: DictConfig, spec: DataSpec, optimizer: bool = True, scheduler: bool = True) -> TaskModule:
    """The TaskModule of cfg.model, with the net's `auto` keys (input_shape, num_outputs) filled
    from the data spec and the task, classes and class names passed on."""
    net_fill = {
        key: value
        for key, value in (("input_shape", list(spec.input_shape)), ("num_outputs", spec.num_outputs))
        if OmegaConf.select(cfg.model, f"net.{key}") == AUTO
    }
    model_cfg = cfg.model
    if "compile" in cfg.model:  # training's switch (training.compiled_for_fit), not TaskModule's
        model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
        model_cfg.pop("compile")
    model = unwrapped(
        instantiate,
        model_cfg,
        optimizer=instantiate(cfg.optimizer) if optimizer else None,
        scheduler=instantiate(cfg.scheduler) if scheduler and cfg.get("scheduler") else None,
        task=spec.task,
        num_classes=spec.num_classes,
        class_names=spec.class_names,
        imbalance=cfg.get("imbalance", "none"),
        net=net_fill,
    )
    return model


def build_trainer(cfg: DictConfig, **overrides) -> L.Trainer:
    """The Lightning Trainer with the configured callbacks and loggers (overrides win).

    EpochMetrics comes first, always, whatever the config or the caller lists: every split's
    metrics are computed there once an epoch, and every other callback (checkpoints, early
    stopping, the run recorder, pruning) reads them after it."""
    from .training.callbacks.epoch_metrics import EpochMetrics
    from .training.loggers import build_loggers

    callbacks = overrides.pop("callbacks", None)
    if callbacks is None:
        callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    metrics = [c for c in callbacks if isinstance(c, EpochMetrics)] or [EpochMetrics()]
    callbacks = metrics[:1] + [c for c in callbacks if not isinstance(c, EpochMetrics)]
    logger = overrides.pop("logger", None)
    if logger is None:
        logger = build_loggers(cfg) or False
    sync = cfg.trainer.get("sync_batchnorm")
    if "sync_batchnorm" not in overrides and sync is not None:
        overrides["sync_batchnorm"] = sync_batchnorm(sync, str(cfg.trainer.get("accelerator", "auto")))
    return instantiate(cfg.trainer, callbacks=callbacks, logger=logger, **overrides)


def sync_batchnorm(value, accelerator: str) -> bool:
    """trainer.sync_batchnorm: auto = on where it can run (a GPU), off on the CPU, which refuses it."""
    import torch

    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if str(value).lower() == "auto":
        return gpu
    if value is True and not gpu:
        raise ConfigError(
            f"trainer.sync_batchnorm=true on trainer.accelerator={accelerator}: SyncBatchNorm runs on GPUs only; "
            "use trainer.sync_batchnorm=auto (or false)"
        )
    return bool(value)


def build(cfg: DictConfig) -> tuple[DataInterface, TaskModule, L.Trainer]:
    """Data module (set up), model and trainer, as the config says."""
    datamodule = build_datamodule(cfg)
    validate_objective(cfg, datamodule.spec)
    model = build_model(cfg, datamodule.spec)
    return datamodule, model, build_trainer(cfg)


def resolved_objective(cfg) -> tuple[str, str]:
    """(metric, mode) of cfg with auto resolved, cfg untouched. For what must know the direction
    before any run builds its data (a sweep creating its study): with auto it reads the data once."""
    from .evaluation.objective import AUTO as OBJECTIVE_AUTO
    from .evaluation.objective import resolve_objective

    metric, mode = cfg.objective.get("metric", OBJECTIVE_AUTO), cfg.objective.get("mode", OBJECTIVE_AUTO)
    if OBJECTIVE_AUTO not in (metric, mode):
        return metric, mode
    import copy

    cfg = copy.deepcopy(cfg)
    resolve_objective(cfg, build_datamodule(cfg).spec, say=False)
    return cfg.objective.metric, cfg.objective.mode
