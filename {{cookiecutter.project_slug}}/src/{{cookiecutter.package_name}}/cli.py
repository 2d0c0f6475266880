"""Config checks that fail fast, in one line, before anything is built or trained.

A run refused for its config removes the folder Hydra had just made for it (nothing else was in
it yet) and touches nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from omegaconf import DictConfig, OmegaConf

from .common import ConfigError, TrainingFailed, first_process

# Values typed on the command line arrive as text when they are not numbers (optimizer.lr=abc):
# each is refused here in one line instead of a traceback deep in the optimizer or the loader.
NUMBERS = {
    "seed": (int, 0),
    "data.split_seed": (int, 0),
    "data.batch_size": (int, 64),
    "data.num_workers": (int, 0),
    "trainer.max_epochs": (int, 20),
    "trainer.max_steps": (int, 1000),
    "optimizer.lr": (float, "1e-3"),
    "optimizer.weight_decay": (float, "1e-4"),
    "optimizer.momentum": (float, 0.9),
    "regularizer.dropout": (float, 0.2),
    "regularizer.weight_decay": (float, "1e-4"),
    "regularizer.l1": (float, "1e-5"),
    "regularizer.input_noise": (float, 0.1),
    "regularizer.label_smoothing": (float, 0.1),
    "model.freeze_epochs": (int, 5),
    "model.backbone_lr_scale": (float, 0.1),
}


def not_a_number(key: str, value, kind: type) -> str | None:
    """Why `value` is not a number of `kind` (int: a whole number, 2.0 counts; float), or None."""
    whole = kind is int and isinstance(value, (int, float)) and float(value).is_integer()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not whole):
        return f"{key}={value!r} is not {'a whole number' if kind is int else 'a number'}"
    return None


def validate_config(cfg: DictConfig) -> None:
    """What can be checked before any data is read; the objective against the task is
    checked once the data spec is known (build.validate_objective)."""
    for key, (kind, example) in NUMBERS.items():
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if value is None:
            continue
        if why := not_a_number(key, value, kind):
            raise ConfigError(f"{why}; e.g. {key}={example}")
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and int(max_epochs) == 0:
        raise ConfigError("trainer.max_epochs=0 trains nothing (and would diagnose an untrained model); use 1 or more")
    lr = cfg.optimizer.get("lr")
    if lr is not None and float(lr) < 0:
        raise ConfigError(f"optimizer.lr={lr} must be >= 0 (a learning rate is a step size); e.g. optimizer.lr=1e-3")
    ckpt = cfg.get("ckpt_path")
    if ckpt and Path(ckpt).is_dir():
        raise ConfigError(
            f"ckpt_path={ckpt} is a directory; pass the .ckpt file in it (e.g. {Path(ckpt) / 'last.ckpt'})"
        )
    if ckpt and not Path(ckpt).is_file():
        raise ConfigError(
            f"ckpt_path={ckpt} does not exist; pass the path of a .ckpt file (e.g. <run dir>/checkpoints/last.ckpt)"
        )
    every_s = OmegaConf.select(cfg, "callbacks.last_checkpoint.every_s")
    if every_s is not None and float(every_s) < 0:
        raise ConfigError(
            f"callbacks.last_checkpoint.every_s={every_s} is negative; use 0 to write last.ckpt every epoch"
        )
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator} but torch sees no CUDA GPU; use trainer=cpu (or "
                "trainer=default: a GPU when there is one)"
            )
    strategy = str(cfg.trainer.get("strategy", "auto"))
    if "fsdp" in strategy.lower():
        import torch

        if cfg.trainer.get("accelerator") == "cpu" or not torch.cuda.is_available():
            raise ConfigError("trainer.strategy=fsdp needs GPUs (FSDP refuses the CPU); on CPU use trainer=ddp_cpu")


def one_run_folder_for_all_nodes(argv: list[str]) -> list[str]:
    """trainer.num_nodes=N > 1: every node runs this command (torchrun, srun) and all of them
    must write into one run folder on the shared file system, so hydra.run.dir is required (the
    default folder is named by each node's own clock). The extra ranks join it without writing
    Hydra's files (.hydra/, the log) into it a second time."""
    given = {a.partition("=")[0].lstrip("+~"): a.partition("=")[2] for a in argv if "=" in a}
    nodes = given.get("trainer.num_nodes", "1")
    multirun = any(a in ("-m", "--multirun") for a in argv)
    ckpt = Path(given.get("ckpt_path") or "")
    if nodes.isdigit() and int(nodes) > 1 and "hydra.run.dir" not in given and ckpt.parent.name == "checkpoints":
        # A resume on every node: the run's own folder, where Hydra writes nothing anew (its
        # .hydra/config.yaml is what the resume is checked against).
        argv = [*argv, f"hydra.run.dir={ckpt.parent.parent}", "hydra.output_subdir=null"]
        given.update({"hydra.run.dir": str(ckpt.parent.parent), "hydra.output_subdir": "null"})
    if not multirun and nodes.isdigit() and int(nodes) > 1 and "hydra.run.dir" not in given:
        print(
            f"error: trainer.num_nodes={nodes} needs one run folder that every node writes into: pass "
            "hydra.run.dir=<a folder on the shared file system>, e.g. hydra.run.dir=outputs/job-$SLURM_JOB_ID",
            file=sys.stderr,
        )
        sys.exit(2)
    if first_process() or multirun:
        return argv
    extra = [] if "hydra.output_subdir" in given else ["hydra.output_subdir=null"]
    if "hydra.job.name" not in given:  # Lightning's own launcher names its children; torchrun and srun do not
        extra.append(f"hydra.job.name=train_rank{os.environ.get('RANK') or os.environ.get('SLURM_PROCID') or 'x'}")
    return [*argv, *extra]


def refuse_an_existing_run_dir(argv: list[str]) -> None:
    """A run writes only into a folder it creates. Called before Hydra starts (Hydra itself
    writes .hydra/ into the run folder first): `hydra.run.dir=` naming a folder that holds
    anything is refused in one line, exit 2, with nothing touched."""
    import os

    if int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0:  # a requeued SLURM job comes back to its own folder
        return
    if not first_process():  # an extra DDP rank (any node) joins the folder the first process created
        return
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "hydra.run.dir" and "${" not in value:
            folder = Path(value)
            if folder.is_dir() and any(folder.iterdir()):
                resume = (  # only training resumes; check.py and evaluate.py just need a new folder
                    ", or resume that run with ckpt_path=<its dir>/checkpoints/last.ckpt"
                    if Path(sys.argv[0]).name == "train.py"
                    else ""
                )
                print(
                    f"error: hydra.run.dir={value} holds an earlier run (or other files) and would be overwritten; "
                    f"pass a new folder{resume}",
                    file=sys.stderr,
                )
                sys.exit(2)
            if folder.exists() and not folder.is_dir():
                print(f"error: hydra.run.dir={value} is a file; pass a folder that does not exist yet", file=sys.stderr)
                sys.exit(2)


def resume_with_the_runs_overrides(argv: list[str]) -> list[str]:
    """`ckpt_path=<run>/checkpoints/last.ckpt` alone resumes <run> as it was: the run's own
    overrides (<run>/.hydra/overrides.yaml) come first and what the command line gives wins;
    training.check_resume then refuses any change but the budget and how the run is watched."""
    if any(a in ("-m", "--multirun") for a in argv):
        return argv
    given = {a.partition("=")[0].lstrip("+~"): a.partition("=")[2] for a in argv if "=" in a}
    ckpt = Path(given.get("ckpt_path") or "").expanduser()
    saved = ckpt.resolve().parent.parent / ".hydra" / "overrides.yaml"
    if ckpt.parent.name != "checkpoints" or not saved.is_file():
        return argv
    theirs = [str(o) for o in OmegaConf.load(saved)]
    # A sweep trial's sweep_trial.* overrides bind it to its study, whose trial is finished: the
    # resumed run goes on as a run of its own and reports to no study.
    added = [o for o in theirs if o.partition("=")[0].lstrip("+~") not in given]
    added = [o for o in added if not o.partition("=")[0].lstrip("+~").startswith("sweep_trial.")]
    if added:
        print(f"resuming with the run's own overrides (.hydra/overrides.yaml): {' '.join(added)}", flush=True)
    return added + argv


def list_parts_as_sweeps(argv: list[str]) -> list[str]:
    """`model.net.hidden.depth=2` names no config key: depth and width are the sweeper's parts
    of a list (search/space.py). Under -m it is read as a one-value search entry, choice(2);
    in a single run it gets a one-line error saying what to write instead."""
    out, multirun = [], any(a in ("-m", "--multirun") for a in argv)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.rpartition(".")[2] in ("depth", "width") and "." in key and "(" not in value:
            if not multirun:
                prefix = key.rpartition(".")[0]
                print(
                    f"error: {key}={value} is a sweep's part of the list {prefix}, not a config key; in a single run set "
                    f"the list itself, e.g. {prefix}=[128,128]",
                    file=sys.stderr,
                )
                sys.exit(2)
            arg = f"{key}=choice({value})"
        out.append(arg)
    return out


@contextlib.contextmanager
def exit_on_config_error():
    """Turn a ConfigError (also one raised inside hydra's instantiate) into one line and exit 2;
    a TrainingFailed into one line and exit 1. In a trial of the Optuna sweeper the
    TrainingFailed is raised on instead: a diverging trial is a result of its hyperparameters,
    recorded as FAIL with this message, and the sweep goes on (an exit would end it)."""
    try:
        yield
    except TrainingFailed as e:
        if _in_a_study_trial():
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - re-raised unless it is a config error
        error = e if isinstance(e, ConfigError) else e.__cause__
        if not isinstance(error, ConfigError):
            raise
        print(f"error: {error}", file=sys.stderr)
        _remove_own_unused_run_dir()
        sys.exit(2)


def _in_a_study_trial() -> bool:
    """A job launched by search/sweeper.py (every fold of a k-fold trial too): Hydra's launcher
    turns an exception into that job's failed result, which the sweeper tells the study.
    Hydra's basic sweeper (`-m optimizer=adam,sgd`) stops at a failed job, so there the run
    exits as a single one does."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
    except (ImportError, ValueError):  # not under @hydra.main (tests, notebooks)
        return False
    target = str(OmegaConf.select(hydra_cfg, "sweeper._target_", default="") or "")
    return hydra_cfg.mode == RunMode.MULTIRUN and target.endswith("recipe_sweeper.OptunaSweeper")


def _remove_own_unused_run_dir() -> None:
    """A single run refused before it wrote anything leaves no folder: Hydra made it (holding
    .hydra/ and the log) just before the job. Anything else in it and it stays."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
    except (ImportError, ValueError):  # not under @hydra.main (tests, notebooks)
        return
    if hydra_cfg.mode != RunMode.RUN or not first_process() or os.environ.get("SLURM_RESTART_COUNT"):
        return  # a sweep's folder holds its other jobs; a DDP child or a requeued job joins an existing one
    if hydra_cfg.output_subdir is None:
        return  # a tool script (configs/hydra/tool.yaml): its "run folder" is the cwd, which Hydra did not make
    folder = Path(hydra_cfg.runtime.output_dir)
    if folder.is_dir() and all(p.name in (".hydra", f"{hydra_cfg.job.name}.log") for p in folder.iterdir()):
        import logging
        import shutil

        logging.shutdown()  # the log file is open in this process
        shutil.rmtree(folder, ignore_errors=True)


# The package before its stage folders (data/ tasks/ model/ training/ ... user/): a project baked
# then and brought forward with `cruft update` can still hold its own nets.py / sources.py at the
# top of the package (cruft moves an edited one into user/ only where git's diff finds the rename;
# with diff.renames off it stays), and the configs the user wrote (copies of the template's) still
# name the old places. Both are said in one line before Hydra composes; nothing old is made to work.
_MOVED_MODULES = {"nets": "the template's MLP and CNN", "sources": "load_digits and the other sources"}
_MOVED_TARGETS = {  # a config target of the old layout -> where it is now
    "model.TaskModule": "model.task_module.TaskModule",
    "data.FourSplitDataModule": "data.datamodule.FourSplitDataModule",
    "images.ImageFolderSource": "data.images.ImageFolderSource",
    "tables.TableSource": "data.tables.TableSource",
    "streaming.StreamingDataModule": "data.streaming.StreamingDataModule",
    "crossval.CrossValidationCallback": "evaluation.crossval.CrossValidationCallback",
    "training.LastCheckpoint": "training.callbacks.checkpoints.LastCheckpoint",
    "objective.ConstrainedCheckpoint": "training.callbacks.checkpoints.ConstrainedCheckpoint",
    "end_of_run.RunRecorder": "training.callbacks.run_recorder.RunRecorder",
    "epoch_metrics.EpochMetrics": "training.callbacks.epoch_metrics.EpochMetrics",
    "monitoring.ActivationGradientMonitor": "training.callbacks.monitoring.ActivationGradientMonitor",
    "preemption.Preemption": "training.callbacks.preemption.Preemption",
}


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _listed(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def from_before_the_user_folder(configs: Path | None) -> str | None:
    """What a project baked before the stage folders still has to move, in one line, or None.
    File-exists checks and a read of the configs' text: no import, so --help stays instant."""
    package_dir = Path(__file__).resolve().parent
    package = package_dir.name
    said = []
    old_files = [name for name in _MOVED_MODULES if (package_dir / f"{name}.py").is_file()]
    for name in old_files:
        old, new = package_dir / f"{name}.py", package_dir / "user" / f"{name}.py"
        imports = "'from .config import ConfigError' to 'from ..common import ConfigError'"
        said.append(
            f"{_shown(old)} is from before the user/ folder: move your own {name} into {_shown(new)} (beside "
            f"{_MOVED_MODULES[name]}), change '{package}.{name}.' to '{package}.user.{name}.' in configs/, and "
            f"{imports}; then delete {_shown(old)}"
        )
    files, changes = [], {}  # the configs that name an old place; old -> new, in the order found
    for config in sorted(configs.rglob("*.yaml")) if configs is not None and configs.is_dir() else []:
        try:
            text = config.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        named = False
        for dotted in re.findall(rf"(?<![\w.]){re.escape(package)}\.([A-Za-z_][\w.]*)", text):
            module = dotted.partition(".")[0]
            if dotted in _MOVED_TARGETS:
                changes[f"{package}.{dotted}"] = f"{package}.{_MOVED_TARGETS[dotted]}"
            elif module in _MOVED_MODULES and "." in dotted and module not in old_files:  # else said above
                changes[f"{package}.{module}."] = f"{package}.user.{module}."
            else:
                continue
            named = True
        if named:
            files.append(_shown(config))
    if files:
        pairs = [f"'{old}' to '{new}'" for old, new in changes.items()]
        said.append(
            f"{_listed(files)} name{'s' if len(files) == 1 else ''} places from before the stage folders: "
            f"change {_listed(pairs)}"
        )
    said += _task_keys_in_model_configs(configs)
    return "; ".join(said) or None


_TASK_KEYS = {"label_smoothing": "regularizer.label_smoothing", "class_costs": "objective.class_costs"}


def _task_keys_in_model_configs(configs: Path | None) -> list[str]:
    """A model config copied before the task was built apart still passes the task's settings to TaskModule."""
    files, keys = [], []
    for config in sorted((configs / "model").glob("*.yaml")) if configs is not None else []:
        try:
            found = re.findall(rf"^({'|'.join(_TASK_KEYS)})\s*:", config.read_text(), flags=re.MULTILINE)
        except (OSError, UnicodeDecodeError):
            continue
        if found:
            files.append(_shown(config))
            keys += [k for k in found if k not in keys]
    if not files:
        return []
    return [
        f"{_listed(files)} set{'s' if len(files) == 1 else ''} {_listed(keys)}, which the task now takes from "
        f"{_listed([_TASK_KEYS[k] for k in keys])} itself: delete the line{'s' if len(keys) > 1 else ''} "
        f"{_listed([repr(k + ':') for k in keys])}"
    ]


def run_hydra_app(main, started: list | None = None) -> None:
    """Run a @hydra.main script. An override or config that Hydra cannot compose (a typo in a
    key, an unknown option of a config group, a value it cannot parse) is one line on stderr
    and exit 2, before any run folder exists; `started` is non-empty once a job began (by
    default: once Hydra set up a job), and what happens after that is the job's own (its exit
    code, or its traceback for a bug). A project from before the user/ folder is refused the same
    way (from_before_the_user_folder says what to move). `--help` first prints the script's
    docstring (its usage), then Hydra's help (a tool script's keys and defaults: configs/hydra/tool.yaml)."""
    from hydra._internal.utils import get_args_parser  # the parser @hydra.main reads sys.argv with
    from hydra.core.hydra_config import HydraConfig

    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra then raises instead of printing several lines and exiting 1
    flags = [a for a in get_args_parser().parse_known_args(sys.argv[1:])[1] if a.startswith("-")]
    if flags:  # e.g. an old --storage URL: argparse would print its usage and a line
        key = flags[0].lstrip("-").partition("=")[0].replace("-", "_")
        print(
            f"error: unknown option {flags[0]}; every setting is key=value, e.g. {key}=... (python {Path(sys.argv[0]).name} --help)",
            file=sys.stderr,
        )
        sys.exit(2)
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        doc = getattr(main, "__wrapped__", main).__globals__.get("__doc__")
        print((doc or "").strip() + "\n")
    else:  # before Hydra makes a run folder; costs nothing when no torchvision is installed
        from . import BrokenInstall, require_loadable_torchvision

        script = getattr(main, "__wrapped__", main).__globals__.get("__file__") or sys.argv[0]
        if moved := from_before_the_user_folder(Path(script).resolve().parent / "configs"):
            print(f"error: {moved}", file=sys.stderr)
            sys.exit(2)
        try:
            require_loadable_torchvision()
        except BrokenInstall as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
    before = HydraConfig.instance().cfg  # set anew when a job starts (an earlier run in this process left its own)

    def began() -> bool:
        return bool(started) if started is not None else HydraConfig.instance().cfg is not before

    try:
        main()
    except SystemExit as e:
        sys.exit(2 if not began() and e.code not in (0, None) else e.code)
    except Exception as e:  # noqa: BLE001 - only a composition error before any job is turned into one line
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        if began() or not isinstance(e, (HydraException, OmegaConfBaseException)):
            raise
        print(f"error: {composition_error_line(e)}", file=sys.stderr)
        sys.exit(2)


def tool_args(cfg: DictConfig, **kinds: type) -> SimpleNamespace:
    """The keys of a tool script's config (configs/<script>.yaml) as plain values, checked: a
    required key (???) not given, or a value of the wrong kind, is a ConfigError (one line, exit 2).
    kinds: key -> int, float, bool or list (one value becomes a list of one); every other key is
    text (out=2024 is the folder '2024', not a number). null passes as None: "the default"."""
    try:
        from hydra.core.hydra_config import HydraConfig

        script, given = f"{HydraConfig.get().job.name}.py", list(HydraConfig.get().overrides.task)
    except (ImportError, ValueError):  # not under @hydra.main
        script, given = Path(sys.argv[0]).name, []
    added = [o for o in given if o.startswith("+") and not o.startswith("++")]  # +foo=1: a key the tool never reads
    if added:
        new = {o.lstrip("+").partition("=")[0] for o in added}
        keys = [k for k in cfg if k not in new]
        raise ConfigError(f"{added[0]}: {script} takes no new keys, only {', '.join(keys)} (python {script} --help)")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise ConfigError(
            f"{', '.join(missing)} {verb} required: python {script} " + " ".join(f"{k}=..." for k in missing)
        )
    try:
        values = OmegaConf.to_container(cfg, resolve=True)
    except Exception as e:  # noqa: BLE001 - an interpolation that cannot resolve (out=${nope})
        raise ConfigError(str(e).splitlines()[0]) from None
    for key, value in values.items():
        kind = kinds.get(key, str)
        if value is None:
            continue
        if kind is list:
            values[key] = [str(v) for v in (value if isinstance(value, list) else [value]) if v not in ("", None)]
        elif isinstance(value, (dict, list)):
            raise ConfigError(
                f"{key}={value} is a {'list' if isinstance(value, list) else 'mapping'}; {key} takes one value"
            )
        elif kind is str:
            values[key] = str(value)
        elif kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{key}={value!r} is not true or false; use {key}=true or {key}=false")
        elif why := not_a_number(key, value, kind):
            raise ConfigError(why)
        else:
            values[key] = kind(value)
    return SimpleNamespace(**values)


def composition_error_line(error: BaseException) -> str:
    """Hydra's message (and OmegaConf's cause) in one line: the config search path it appends is
    dropped, a list of available options becomes 'a, b, c'."""
    text = str(error)
    cause = error.__cause__
    if isinstance(cause, Exception) and str(cause) not in text:
        text += "\n" + str(cause)
    text = text.split("Config search path")[0]
    text, _, options = text.partition("Available options in ")
    keep = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith(("full_key:", "object_type=", "Set the environment variable"))
    ]
    if options:
        group, _, names = options.partition("\n")
        keep.append(
            f"available options in {group.strip().rstrip(':')}: "
            + ", ".join(n.strip() for n in names.splitlines() if n.strip())
        )
    if getattr(error, "override", None):  # a value the override grammar cannot read
        keep.insert(0, f"cannot parse the override {error.override!r}")
        key = error.override.partition("=")[0]
        keep.append(f"a value with = , # ! & ~ [ ] or a space in it goes in quotes, e.g. '{key}=\"a=b\"'")
    return "; ".join(line.rstrip(".") for line in keep)
