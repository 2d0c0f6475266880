"""The one place that turns a composed config into the data module, the model and the trainer,
and into the typed settings the stages below take (the objective, the analysis, the loggers).

train.py, check.py, evaluate.py (retrain), diagnose.py, predict.py and the benchmarks all
build through here, so a model is the same object whichever command made it. The data is
built first: its spec (task, classes, input shape), read off the source, decides the model's
output layer, loss and metrics; the config never has to repeat it.

The raw config stops here and at the recipes (training/fit.py for train.py, checks/__init__.py
for check.py) and Hydra's own plug-ins (search/sweeper.py, evaluation/crossval.py); below them,
code takes typed arguments (tests/test_structure.py holds the package to that).
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from .common import ConfigError
from .data.datamodule import FourSplitDataModule
from .data.interface import DataInterface, DataSpec
from .evaluation.objective import AUTO as OBJECTIVE_AUTO
from .evaluation.objective import Objective, resolved, validate_for_task
from .evaluation.reports import Analysis
from .tasks import make_task

if TYPE_CHECKING:
    import lightning as L

    from .evaluation.runs import LoadedRun
    from .model.task_module import TaskModule

AUTO = "auto"  # a net config key with this value is filled in from the data spec


def build_datamodule(cfg: DictConfig, setup: bool = True) -> DataInterface:
    """The data module of cfg.data (FourSplitDataModule, or data._target_'s: StreamingDataModule),
    set up (its spec known) unless setup=False. Consumers use it through DataInterface alone.

    Keys of cfg.data that the data module does not take (data.path, data.target, ...) are
    the source's own settings: configs/data/*.yaml forward them with ${data.<key>}."""
    from .data.examples import ensure_example

    # +experiment=table_example on a fresh project: its data is written first
    ensure_example(cfg.get("example"), OmegaConf.select(cfg, "data.path", default=None))
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
    from the data spec, and its task: the spec's kind and classes, with regularizer.label_smoothing,
    objective.class_costs and imbalance (the loss and metrics they change are the task's)."""
    net_fill = {
        key: value
        for key, value in (("input_shape", list(spec.input_shape)), ("num_outputs", spec.num_outputs))
        if OmegaConf.select(cfg.model, f"net.{key}") == AUTO
    }
    model_cfg = cfg.model
    if "compile" in cfg.model:  # training's switch (training.compiled_for_fit), not TaskModule's
        model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
        model_cfg.pop("compile")
    costs = OmegaConf.select(cfg, "objective.class_costs", default=None)
    task = make_task(
        spec.task,
        spec.num_classes,
        label_smoothing=float(OmegaConf.select(cfg, "regularizer.label_smoothing", default=0.0) or 0.0),
        class_costs=None if costs is None else [float(c) for c in costs],
        imbalance=cfg.get("imbalance", "none"),
    )
    model = unwrapped(
        instantiate,
        model_cfg,
        optimizer=instantiate(cfg.optimizer) if optimizer else None,
        scheduler=instantiate(cfg.scheduler) if scheduler and cfg.get("scheduler") else None,
        task=task,
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
        settings = [OmegaConf.to_container(c, resolve=True) for c in (cfg.get("logger") or {}).values() if c]
        logger = build_loggers(settings) or False
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


# --------------------------------------------------------------------------- typed settings
def objective_of(cfg: DictConfig) -> Objective:
    return Objective.from_dict(OmegaConf.to_container(cfg.objective, resolve=True))


def analysis_of(cfg: DictConfig) -> Analysis:
    return Analysis.from_dict(
        OmegaConf.to_container(cfg.get("analysis") or OmegaConf.create({}), resolve=True),
        near_duplicate_ratio=OmegaConf.select(cfg, "checks.near_duplicates.ratio", default=0.1),
        seed=int(cfg.get("seed", 0)),
    )


def resolve_objective(cfg: DictConfig, spec: DataSpec, say: bool = True) -> None:
    """objective.metric/mode=auto (the defaults) become the task's own in cfg itself, so that
    everything that reads them afterwards (the checkpoint and early-stopping callbacks, the saved
    config, the reports) sees a real metric."""
    metric, mode = cfg.objective.get("metric", OBJECTIVE_AUTO), cfg.objective.get("mode", OBJECTIVE_AUTO)
    metric, mode = resolved(metric, mode, spec.task, say)
    with open_dict(cfg):
        cfg.objective.metric, cfg.objective.mode = metric, mode


def validate_objective(cfg: DictConfig, spec: DataSpec) -> None:
    """The objective against the task the data turned out to be, auto resolved first."""
    resolve_objective(cfg, spec)
    validate_for_task(objective_of(cfg), spec.task)


def resolved_objective(cfg: DictConfig) -> tuple[str, str]:
    """(metric, mode) of cfg with auto resolved, cfg untouched. For what must know the direction
    before any run builds its data (a sweep creating its study): with auto it reads the data once."""
    metric, mode = cfg.objective.get("metric", OBJECTIVE_AUTO), cfg.objective.get("mode", OBJECTIVE_AUTO)
    if OBJECTIVE_AUTO not in (metric, mode):
        return metric, mode
    return resolved(metric, mode, build_datamodule(copy.deepcopy(cfg)).spec.task, say=False)


# --------------------------------------------------------------------------- runs on disk
def run_config(run_dir: Path, output_dir: Path | None = None) -> DictConfig:
    """A run's saved config (its .hydra/config.yaml), writing into output_dir (default: the run's own)."""
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    with open_dict(cfg):
        cfg.paths = {"output_dir": str(output_dir or run_dir)}
        cfg.ckpt_path = None
    return cfg


def load_run(ckpt_path, setup_data: bool = True) -> LoadedRun:
    """A checkpoint's run rebuilt from its saved config: the model with the checkpoint's weights
    (eval mode), the data module with the checkpoint's fitted preprocessing and spec.
    setup_data=False reads no data at all (predict)."""
    from .evaluation.runs import LoadedRun, find_run_dir, load_checkpoint

    ckpt_path = Path(str(ckpt_path)).resolve()
    checkpoint = load_checkpoint(ckpt_path)
    run_dir = find_run_dir(ckpt_path)
    cfg = run_config(run_dir)
    datamodule = build_datamodule(cfg, setup=setup_data)
    state = checkpoint.get(type(datamodule).__qualname__)  # Lightning stores it under the class name
    if not state or not state.get("spec"):
        raise ConfigError(
            f"{ckpt_path} holds no data spec (written by an older version of this project); retrain to use it here"
        )
    datamodule.load_state_dict(state)
    resolve_objective(cfg, datamodule.spec, say=False)  # a run's saved config keeps objective.metric=auto
    model = build_model(cfg, datamodule.spec, optimizer=False, scheduler=False)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise ConfigError(
            f"{ckpt_path} holds another model's weights than the run's config builds "
            f"({str(e).splitlines()[0][:120]}); pass a checkpoint of this run"
        ) from None
    model.eval()
    return LoadedRun(
        run_dir=run_dir,
        model=model,
        datamodule=datamodule,
        checkpoint=checkpoint,
        objective=objective_of(cfg),
        analysis=analysis_of(cfg),
        config=OmegaConf.to_container(cfg, resolve=False),
    )


def build_retraining(
    run_dir: Path, out_dir: Path, epochs: int, callbacks: list
) -> tuple[DataInterface, TaskModule, L.Trainer]:
    """(data module on train + dev, model, trainer) of a run's own config, for the final model
    (vault/retrain.py): `epochs` epochs, no dev-based selection, out_dir/.hydra/config.yaml written."""
    import lightning as L

    cfg = run_config(run_dir, output_dir=out_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    datamodule.train_on_train_and_dev()
    resolve_objective(cfg, datamodule.spec, say=False)  # the config written beside final.ckpt says what auto became
    plateau = cfg.get("scheduler") and "ReduceLROnPlateau" in str(cfg.scheduler.get("_target_", ""))
    if plateau:
        print("note: the plateau scheduler watches dev, which is training data now; retraining without it")
    model = build_model(cfg, datamodule.spec, scheduler=not plateau)
    trainer = build_trainer(
        cfg,
        callbacks=callbacks,  # and EpochMetrics, which build_trainer adds first
        logger=False,
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(out_dir),
    )
    (out_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (out_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return datamodule, model, trainer


def prepare_streaming(cfg: DictConfig, out: str, overwrite: bool = False) -> dict:
    """prepare_data.py: cfg's data written as streamed shards (data/streaming.py); returns the spec."""
    from .data.streaming import prepare

    settings = OmegaConf.to_container(cfg.data, resolve=True)  # kept in the prepared spec.json
    return prepare(lambda: build_datamodule(cfg), settings, out, overwrite)
