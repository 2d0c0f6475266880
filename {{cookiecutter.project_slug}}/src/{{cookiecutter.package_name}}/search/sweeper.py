"""A thin Hydra sweeper on current Optuna: ask a trial, launch it as a Hydra job, tell.

Selected by the sweep configs (configs/sweep/*.yaml -> hydra/sweeper=optuna). Each loop:
  1. fail trials whose worker stopped sending heartbeats (killed, crashed machine); their
     parameters are queued again, so a killed trial is retried, never lost (a trial stopped
     by a signal, SIGTERM or Ctrl-C, is queued again too). A retried trial whose folder holds
     a checkpoints/last.ckpt continues from it, in that folder (_continue_killed);
  2. count the study's trials: finished + running ones use the budget (n_trials), failed
     ones do not (in a grid a point whose job failed is tried: it counts, else the grid
     would run again); stop at the budget or the time limit (timeout);
  3. ask `batch_size` trials, launch them through Hydra's launcher (in this process, or
     submitit on SLURM), tell each result. Pruned trials were stopped early by
     pruning.SweepTrialCallback inside the job; a job that failed (a diverging loss:
     config.TrainingFailed) is a FAIL with its reason, and the sweep goes on.
The sweep exits 1 only when no trial of the study finished (all failed), else 0.
Several processes may run the same command: they share the study (same name and storage)
and together run exactly n_trials. Starting the command again after a kill resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from ..common import ConfigError
from .space import Param, SpaceError, list_keys, overrides_for, parse_space

log = logging.getLogger(__name__)

# Trials of the jobs running in this very process (Hydra's basic launcher): the pruning
# callback reports through these instead of opening the storage again.
LIVE_TRIALS: dict[int, Any] = {}
COUNTED = ("COMPLETE", "PRUNED", "RUNNING")
DEFAULT_STORAGE = "multirun/sweeps.db"


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: str = "random",
        params: Any = None,
        n_trials: int | None = 20,
        timeout: float | None = None,
        seed: int | None = None,
        batch_size: int = 1,
        n_workers: int = 1,
        study_name: str | None = None,
        storage: str | None = None,
        pruner: Any = None,
        heartbeat: Any = None,
        max_failures: int | None = None,
        tpe: Any = None,
        worker_log: str | None = None,
    ) -> None:
        self.sampler_name = str(sampler)
        self.params = _plain(params) or {}
        self.n_trials, self.timeout, self.seed = n_trials, timeout, seed
        self._batch_size_given, self._n_workers_given = batch_size, n_workers  # checked when the sweep starts
        self.batch_size, self.n_workers = max(1, int(batch_size)), max(1, int(n_workers))
        self.study_name, self.storage_url = study_name, storage
        self.pruner_cfg = _plain(pruner) or {"type": "none"}
        self.heartbeat = {"interval": 10, "grace_period": 30, **(_plain(heartbeat) or {})}
        self.max_failures, self.tpe, self.worker_log = max_failures, _plain(tpe) or {}, worker_log
        self.folds: int | None = None  # data.splits=kfold: folds per trial (_folds)

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # ------------------------------------------------------------------ the loop
    def sweep(self, arguments: list[str]) -> Any:
        try:
            return self._sweep(arguments)
        except (SpaceError, ConfigError) as e:  # a search space or storage that cannot run: one line, exit 2
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.exit(2)

    def _sweep(self, arguments: list[str]) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        self._check_budget()
        self._no_password_on_disk()
        space, fixed = parse_space(self.params, arguments)
        if not space:
            raise SpaceError(
                "nothing to search: hydra.sweeper.params is empty; pick a sweep (sweep=random) or add a "
                "sweep override like optimizer.lr='tag(log, interval(1e-4, 1))'"
            )
        self.base_lists = self._lists(space, fixed)
        self._check_keys(space, fixed)
        self.folds = self._folds(space, fixed)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        objective = self.config.get("objective") or {}
        if "auto" in (objective.get("metric"), objective.get("mode")):  # the default: what the data's task asks
            from ..build import resolved_objective

            metric, mode = resolved_objective(self.config)
            objective = {**OmegaConf.to_container(objective), "metric": metric, "mode": mode}
        direction = "minimize" if objective.get("mode", "max") == "min" else "maximize"
        satisficing = _plain(objective.get("satisficing"))
        from ..evaluation.constraints import parse_constraints

        constraints = self.constraints = parse_constraints(satisficing)

        url = self.storage_url or f"sqlite:///{Path(self.config.hydra.runtime.cwd) / DEFAULT_STORAGE}"
        name = self.study_name or default_study_name(self.config, self.sampler_name, space, fixed)
        study = self._study(url, name, direction, space, constraints)
        n_trials = (
            self.n_trials if self.n_trials is not None else (_grid_size(space) if self.sampler_name == "grid" else 20)
        )
        self._record(study, space, fixed, satisficing, objective)
        study.set_user_attr("n_trials", n_trials)
        self._say_start(name, url, n_trials)
        children = self._spawn_workers(name, sweep_dir, url)
        returns = self._trials(study, space, fixed, n_trials, url, name)
        for i, child in enumerate(children, start=1):
            if child.wait() != 0:
                print(f"[sweep] worker {i} exited with {child.returncode}; see {sweep_dir}/worker{i}.log", flush=True)
        from .sweep_page import report_with_page

        report_with_page(study, sweep_dir)  # trials.csv, trials.png and report.html
        self._exit_if_nothing_finished(study, sweep_dir)
        return returns

    def _say_start(self, name: str, url: str, n_trials: int) -> None:
        """The study, its storage (no password) and its budget, in the log and on the terminal."""
        log.info(
            f"study {name} in {_safe_url(url)}: {self.sampler_name} search, budget {n_trials} trials"
            + (f" / {self.timeout:g} s" if self.timeout else "")
        )
        print(
            f"[sweep] study {name} ({_safe_url(url)}): {self.sampler_name}, {n_trials} trials"
            + (f", {self.timeout:g} s" if self.timeout else ""),
            flush=True,
        )
        if self.folds:
            print(
                f"[sweep] k-fold: each trial trains data.fold=0..{self.folds - 1} and is scored by the mean over its folds",
                flush=True,
            )

    def _trials(self, study, space, fixed, n_trials: int, url: str, name: str) -> list:
        """Ask, launch and tell trials in batches until the budget (trials, seconds, failures) is
        spent; with other workers on the study, wait for their running trials before the report."""
        start, failures, max_failures = time.monotonic(), 0, self.max_failures or max(3, n_trials)
        returns = []
        while True:
            _fail_stale(study)
            trials = study.get_trials(deepcopy=False)
            counted = [t for t in trials if self._counts(t)]
            if self.timeout and time.monotonic() - start >= self.timeout:
                print(f"[sweep] time budget of {self.timeout:g} s used; not starting more trials", flush=True)
                break
            if failures >= max_failures:
                print(
                    f"[sweep] {failures} trials failed in this worker; stopping (see the table's error column)",
                    flush=True,
                )
                break
            if len(counted) >= n_trials:
                others = [t for t in counted if t.state.name == "RUNNING"]
                if others and _heartbeat_on(study):  # another worker's trials: wait for them, then report all
                    time.sleep(min(self.heartbeat["interval"], 5))
                    continue
                break
            batch = self._ask(study, space, fixed, n_trials, min(self.batch_size, n_trials - len(counted)), url, name)
            if not batch:
                continue
            results = self._launch(study, batch)
            returns.append(results)
            failures += sum(1 for r in results if r == "FAIL")
        return returns

    def _counts(self, trial) -> bool:
        """Does this trial use the budget? Finished and running ones do; failed ones do not,
        as their budget is for results, except a grid point whose job failed: it was tried,
        and running it again would fail the same way (the sampler would pick it, or a done
        one, again)."""
        if trial.user_attrs.get("skipped"):
            return False
        if trial.state.name == "FAIL":
            return self.sampler_name == "grid" and bool(trial.user_attrs.get("job_failed"))
        return trial.state.name in COUNTED

    def _exit_if_nothing_finished(self, study, sweep_dir: Path) -> None:
        """Failed trials are part of a search; a study where every trial failed has no result."""
        trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("skipped")]
        if any(t.state.name in ("COMPLETE", "PRUNED") for t in trials):
            return
        failed = sum(t.state.name == "FAIL" for t in trials)
        print(
            f"error: no trial of study {study.study_name} finished ({failed} failed); "
            f"why is in the error column of {sweep_dir / 'trials.csv'}",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)

    # ------------------------------------------------------------------ pieces
    def _study(self, url: str, name: str, direction: str, space: dict[str, Param], constraints):
        import optuna

        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        from .studies import unreachable, with_driver

        url = with_driver(url)
        engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
        import sqlalchemy.exc

        for attempt in range(6):
            try:
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine,
                    heartbeat_interval=int(self.heartbeat["interval"]),
                    grace_period=int(self.heartbeat["grace_period"]),
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=int(self.heartbeat.get("max_retry", 3))
                    ),
                )
                break
            except sqlalchemy.exc.OperationalError as e:
                if url.startswith("sqlite"):
                    raise
                raise unreachable(url, e) from None
            except (ImportError, sqlalchemy.exc.NoSuchModuleError, sqlalchemy.exc.ArgumentError) as e:
                raise ConfigError(
                    f"the study storage {_safe_url(url)} cannot be opened: {str(e).strip().splitlines()[0]}; "
                    "e.g. sqlite:////abs/path/sweeps.db or postgresql://user@host:5432/db"
                ) from None
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # Workers started together on a new database race to create its tables: the
                # loser finds them half made (PostgreSQL: duplicate pg_type); the next try sees them.
                if attempt == 5:
                    raise
                time.sleep(0.5 * (attempt + 1))
        existing = len(_existing(storage, name))
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=make_sampler(self.sampler_name, space, self.seed, existing, name, self.tpe),
            pruner=make_pruner(self.pruner_cfg),
            direction=direction,
            load_if_exists=True,
        )
        if study.direction.name.lower() != direction:
            raise SpaceError(
                f"study {name} was created to {study.direction.name.lower()}, but objective.mode asks to "
                f"{direction}; use another hydra.sweeper.study_name"
            )
        if existing:
            print(
                f"[sweep] resuming study {name}: {existing} trials already there (finished ones are kept, not re-run)",
                flush=True,
            )
        return study

    def _no_password_on_disk(self) -> None:
        """Hydra saves the sweep's config, storage URL included, in multirun.yaml and in every
        trial's .hydra/: a password written into the URL would sit there in plain text. Read
        from the environment (${oc.env:...}) it is saved as that reference, never as itself."""
        from .studies import password_in

        raw = OmegaConf.to_container(self.config.hydra.sweeper, resolve=False).get("storage")
        if password_in(raw):
            raise ConfigError(
                "hydra.sweeper.storage holds a password, which Hydra would save in plain text in multirun.yaml and "
                "every trial's .hydra/ folder: put the URL in an environment variable and pass its name, e.g. "
                "export SWEEP_STORAGE='postgresql://user:pw@host/db' and hydra.sweeper.storage='${oc.env:SWEEP_STORAGE}'"
            )

    def _check_budget(self) -> None:
        """A budget that runs nothing (n_trials=-3) would end 'successfully' with no trial."""
        if self.n_trials is not None and (not isinstance(self.n_trials, int) or self.n_trials < 1):
            raise SpaceError(
                f"hydra.sweeper.n_trials={self.n_trials} runs no trial; give a number of trials >= 1 (or null for a whole grid)"
            )
        if self.timeout is not None and float(self.timeout) <= 0:
            raise SpaceError(
                f"hydra.sweeper.timeout={self.timeout} leaves no time for a trial; give seconds > 0, or null"
            )
        for key in ("batch_size", "n_workers"):
            if int(getattr(self, f"_{key}_given")) < 1:
                raise SpaceError(f"hydra.sweeper.{key}={getattr(self, f'_{key}_given')} must be >= 1")
        if self.max_failures is not None and int(self.max_failures) < 1:
            raise SpaceError(f"hydra.sweeper.max_failures={self.max_failures} must be >= 1 (or null)")

    def _record(self, study, space, fixed, satisficing, objective) -> None:
        sweep_dir = str(Path(self.config.hydra.sweep.dir).resolve())
        dirs = list(study.user_attrs.get("sweep_dirs", []))
        if dirs and sweep_dir not in dirs:  # the same command later, with a new folder: say where the rest is
            print(
                f"[sweep] this study began in {dirs[0]}: its earlier trials' folders are there (trials.csv lists every "
                f"trial's job_dir); new trials go to {sweep_dir}. For a study of its own: hydra.sweeper.study_name=NAME",
                flush=True,
            )
        study.set_user_attr("sweep_dirs", dirs + ([sweep_dir] if sweep_dir not in dirs else []))
        recorded = study.user_attrs.get("space")
        now = {k: p.to_dict() for k, p in space.items()}
        if recorded and recorded != now:
            print(
                f"[sweep] WARNING: study {study.study_name} was run with a different search space; the table mixes both",
                flush=True,
            )
        study.set_user_attr("space", now)
        study.set_user_attr("sampler", self.sampler_name)
        study.set_user_attr("fixed_overrides", fixed)
        study.set_user_attr("satisficing", satisficing)
        study.set_user_attr("objective", {"metric": objective.get("metric"), "mode": objective.get("mode")})
        study.set_user_attr("sweep", self.config.hydra.runtime.choices.get("sweep"))

    def _ask(self, study, space, fixed, n_trials, k, url, name) -> list:
        batch = []
        for _ in range(k):
            trial = study.ask()
            if _heartbeat_on(study):  # at once: a worker killed from here on leaves a stale trial, not a zombie
                study._storage.record_heartbeat(trial._trial_id)
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            ahead = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and self._counts(t)]
            if len(ahead) >= n_trials:  # another worker took the last slot of the budget
                trial.set_user_attr("skipped", "budget already used by other workers")
                study.tell(trial, state=_state("FAIL"))
                break
            values = self._suggest(trial, space, fixed)
            trial.set_user_attr("values", {k: v for k, v in values.items()})
            overrides = overrides_for(values, self.base_lists)
            trial.set_user_attr("overrides", overrides)
            resume = self._continue_killed(study, trial)
            context = [
                f"++sweep_trial.number={trial.number}",
                f"++sweep_trial.id={trial._trial_id}",
                f"++sweep_trial.study={name}",
            ]
            if "@" not in url:  # never copy a password into every job's config
                context.append(f"++sweep_trial.storage='{url}'")
            batch.append((trial, [*fixed, *overrides, *context, *resume]))
        return batch

    def _continue_killed(self, study, trial) -> list[str]:
        """A trial queued again after its job was killed or stopped (Optuna's retry: it has the
        same parameters and the killed one's user attributes) goes on from the killed job's
        checkpoints/last.ckpt, in that job's folder, instead of from epoch 0; the overrides
        that say so. Without a readable last.ckpt (killed before one was written) it starts
        from scratch. The folder each trial's job writes is kept in its `run_dir` attribute."""
        retried = study._storage.get_trial_system_attrs(trial._trial_id).get("retry_history")
        previous = trial.user_attrs.get("run_dir") if retried else None
        if retried:
            trial.set_user_attr("error", None)  # a retry inherits the stopped trial's "interrupted"
        if self.folds:  # a k-fold trial's folds restart (each fold is a run of its own)
            return []
        ckpt = Path(previous) / "checkpoints" / "last.ckpt" if previous else None
        epoch = _checkpoint_epoch(ckpt) if ckpt else None
        if epoch is None:
            trial.set_user_attr("run_dir", str(Path(self.config.hydra.sweep.dir).resolve() / f"trial_{trial.number}"))
            return []
        killed = retried[-1]
        trial.set_user_attr("run_dir", previous)
        trial.set_user_attr("resumed_from", f"trial {killed} at epoch {epoch}: {ckpt}")
        reported = next(t for t in study.get_trials(deepcopy=False) if t.number == killed).intermediate_values
        for step, value in reported.items():
            if step < epoch:  # the pruner compares trials epoch by epoch: the epochs it had done
                trial.report(value, step)
        print(f"[sweep] trial {trial.number} continues killed trial {killed} at epoch {epoch} from {ckpt}", flush=True)
        return [f"ckpt_path='{ckpt}'", f"hydra.sweep.subdir='{previous}'", "hydra.output_subdir=null"]

    def _suggest(self, trial, space: dict[str, Param], fixed: list[str]) -> dict[str, Any]:
        """Group choices first (optimizer=sgd), then the keys that exist in the config they
        compose: optimizer.momentum is sampled for sgd, skipped for adam."""
        groups = set(self.config.hydra.runtime.choices.keys())
        values: dict[str, Any] = {}
        for name in [n for n in space if n in groups]:
            values[name] = space[name].suggest(trial)
        composed = self._compose([*fixed, *overrides_for(values, self.base_lists)])
        for name, p in space.items():
            if name in values:
                continue
            if not _exists(composed, name, self.base_lists):  # e.g. momentum with a fixed optimizer=adam
                continue
            values[name] = p.suggest(trial)
        return values

    def _launch(self, study, batch) -> list[str]:
        stop = threading.Event()
        ids = [t._trial_id for t, _ in batch]
        beat = threading.Thread(target=_beat, args=(study, ids, float(self.heartbeat["interval"]), stop), daemon=True)
        beat.start()
        for t, _ in batch:
            LIVE_TRIALS[t._trial_id] = t
        try:
            if self.folds:
                rets = self._launch_folds(batch)
            else:
                rets = self.launcher.launch([o for _, o in batch], initial_job_idx=batch[0][0].number)
        except BaseException as e:  # Ctrl-C, SIGTERM, a crashed launcher: leave no trial RUNNING
            import optuna

            for t, _ in batch:
                _tell_safely(study, t, "FAIL", error=f"interrupted: {type(e).__name__}")
                frozen = study._storage.get_trial(t._trial_id)
                if str(frozen.user_attrs.get("error")).startswith("interrupted"):  # not already failed elsewhere
                    # queued again as a killed trial is: the same command later runs (or continues) it
                    retry = optuna.storages.RetryFailedTrialCallback(max_retry=int(self.heartbeat.get("max_retry", 3)))
                    retry(study, frozen)
            raise
        finally:
            stop.set()
            beat.join(timeout=5)
            for t, _ in batch:
                LIVE_TRIALS.pop(t._trial_id, None)
        return [self._tell(study, t, r) for (t, _), r in zip(batch, rets)]

    def _tell(self, study, trial, ret) -> str:
        """One job's result, or a k-fold trial's list of fold results: then every number is
        the mean over the folds, and the per-fold values go to trials.csv."""
        from hydra.core.utils import JobStatus

        from .report import flatten_summary

        rets = ret if isinstance(ret, list) else [ret]
        attrs = next((t.user_attrs for t in study.get_trials(deepcopy=False) if t.number == trial.number), {})
        job_dirs = [_select(r.hydra_cfg, "hydra.runtime.output_dir") for r in rets]
        metrics = {"params": attrs["params"]} if "params" in attrs else {}
        if job_dirs[0]:
            trial.set_user_attr(
                "job_dir", str(Path(job_dirs[0]).parent if self.folds else job_dirs[0])
            )  # trial_<n>/ of fold_<i>/, also when fold 0 failed and no other fold ran
            paths = [Path(d) / "summary.json" for d in job_dirs if d]
            summaries = [json.loads(p.read_text()) for p in paths if p.is_file()]
            if summaries:
                flat = [flatten_summary(s) for s in summaries]
                metrics.update({k: sum(f[k] for f in flat) / len(flat) for k in flat[0] if all(k in f for f in flat)})
                reads = [s.get("test_split_reads", s.get("test_reads")) for s in summaries]
                trial.set_user_attr("test_split_reads", reads[0] if len(reads) == 1 else sum(r or 0 for r in reads))
                epochs = [s.get("epochs") for s in summaries]
                trial.set_user_attr("epochs", epochs[0] if len(epochs) == 1 else epochs)
        trial.set_user_attr("metrics", metrics)
        from .report import violations

        for key, value in violations(self.constraints, metrics).items():  # TPE learns to avoid violations
            trial.set_constraint(key, value)
        for i, r in enumerate(rets):
            if r.status != JobStatus.COMPLETED:
                where = f"fold {i}: " if self.folds else ""
                return _job_failed(study, trial, f"{where}{type(r._return_value).__name__}: {r._return_value}")
        if attrs.get("pruned_at_epoch") is not None:
            return _tell_safely(study, trial, "PRUNED")
        values = [r._return_value for r in rets]
        if any(v is None or not math.isfinite(float(v)) for v in values):
            return _job_failed(
                study, trial, f"no finite dev value ({values if len(values) > 1 else values[0]}); did training diverge?"
            )
        if self.folds:
            trial.set_user_attr("fold_values", [float(v) for v in values])
        study.tell(trial, sum(float(v) for v in values) / len(values))
        return "COMPLETE"

    def _folds(self, space: dict[str, Param], fixed: list[str]) -> int | None:
        """data.splits=kfold (M6): each trial trains all data.folds folds, so that a trial is
        scored by its mean over them rather than by one, maybe lucky, small dev split."""
        for key in ("data.splits", "data.folds", "data.fold"):
            if key in space:
                raise SpaceError(
                    f"{key} cannot be searched: trials scored on different splits are not comparable; fix it "
                    "(for k-fold: data.splits=kfold data.folds=5, and each trial trains every fold)"
                )
        data = self._compose(list(fixed)).get("data") or {}
        if data.get("splits") != "kfold":
            return None
        if any(o.lstrip("+~").split("=", 1)[0] == "data.fold" for o in fixed):
            raise SpaceError(
                "data.fold is given, but under data.splits=kfold each trial of a sweep trains every fold itself; drop data.fold"
            )
        folds = data.get("folds")
        if not isinstance(folds, int) or folds < 2:
            raise SpaceError(
                f"data.folds={folds}: k-fold cross-validation needs a whole number of at least 2 folds, e.g. data.folds=5"
            )
        return folds

    def _launch_folds(self, batch) -> list[list]:
        """Each trial's folds, in fold_<i>/ of its trial_<n>/. Fold 0 of every trial first, with
        the pruning callback on; a trial pruned there runs no more folds. Then folds 1..K-1 of
        the others at once (in parallel on a cluster), without the callback: its epochs
        would collide with fold 0's as the trial's steps."""

        def job(trial, overrides, fold):
            own = overrides if fold == 0 else [o for o in overrides if not o.startswith("++sweep_trial.")]
            return [*own, f"data.fold={fold}", f"hydra.sweep.subdir=trial_{trial.number}/fold_{fold}"]

        first = self.launcher.launch([job(t, o, 0) for t, o in batch], initial_job_idx=batch[0][0].number)
        rets = [[r] for r in first]
        go_on = [
            k
            for k, ((t, _), r) in enumerate(zip(batch, first))
            if r.status.name == "COMPLETED" and t.user_attrs.get("pruned_at_epoch") is None
        ]
        if go_on:
            rest = self.launcher.launch(
                [job(*batch[k], f) for k in go_on for f in range(1, self.folds)], initial_job_idx=batch[0][0].number
            )
            for j, k in enumerate(go_on):
                rets[k] += rest[j * (self.folds - 1) : (j + 1) * (self.folds - 1)]
        return rets

    def _compose(self, overrides: list[str]) -> DictConfig:
        key = tuple(overrides)
        cache = self.__dict__.setdefault("_composed", {})
        if key not in cache:
            cache[key] = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        return cache[key]

    def _check_keys(self, space: dict[str, Param], fixed: list[str]) -> None:
        """Every search key must exist in the config under some choice of the config groups.
        One that exists only under other choices (optimizer.momentum: sgd, not adam) is
        conditional and sampled where it exists; one that no choice defines is a typo
        (optimizer.lrr) and stops the sweep here, instead of being skipped in every trial."""
        groups = [g for g in self.config.hydra.runtime.choices if not g.startswith("hydra/") and g != "sweep"]
        base = self._compose(list(fixed))
        for name in space:
            if name in groups or _exists(base, name, self.base_lists):
                continue
            if not self._defined_under_some_choice(name, fixed, groups):
                raise SpaceError(_unknown_key_message(name, base))

    def _defined_under_some_choice(self, name: str, fixed: list[str], groups: list[str]) -> bool:
        loader = self.hydra_context.config_loader
        own = [g for g in groups if name.startswith(g + ".")]  # optimizer.x: the optimizer group first
        for group in [*own, *[g for g in groups if g not in own]]:
            current = self.config.hydra.runtime.choices.get(group)
            others = [o for o in fixed if o.lstrip("+~").split("=", 1)[0] != group]
            for option in loader.get_group_options(group):
                if option == current:
                    continue
                try:
                    cfg = self._compose([*others, f"{group}={option}"])
                except Exception:  # noqa: BLE001, S112 - an option that does not compose here defines nothing
                    continue
                if _exists(cfg, name, self.base_lists):
                    return True
        return False

    def _lists(self, space, fixed) -> dict[str, list]:
        keys = list_keys(space)
        if not keys:
            return {}
        cfg = self._compose(list(fixed))
        out = {}
        for key in keys:
            node = OmegaConf.select(cfg, key, default=None)
            if OmegaConf.is_list(node):
                out[key] = list(OmegaConf.to_container(node, resolve=True))
        return out

    def _spawn_workers(self, name: str, sweep_dir: Path, url: str) -> list:
        """n_workers > 1: start n_workers - 1 more processes of this command on the same study."""
        if self.n_workers <= 1:
            return []
        if url.startswith("sqlite") and self.n_workers > 4:
            print(
                "[sweep] note: SQLite serializes writes; for many workers use PostgreSQL (hydra.sweeper.storage=postgresql://...)",
                flush=True,
            )
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // self.n_workers)))
        os.environ.setdefault("OMP_NUM_THREADS", env["OMP_NUM_THREADS"])
        children = []
        for i in range(1, self.n_workers):
            own = ("hydra.sweeper.n_workers=", "hydra.sweeper.study_name=", "hydra.sweep.dir=")
            argv = [
                sys.executable,
                *[a for a in sys.argv if not a.startswith(own)],
                "hydra.sweeper.n_workers=1",
                f"hydra.sweeper.study_name={name}",
                f"hydra.sweep.dir={sweep_dir}/worker{i}",
            ]
            logfile = open(sweep_dir / f"worker{i}.log", "w")
            children.append(subprocess.Popen(argv, env=env, stdout=logfile, stderr=subprocess.STDOUT))
        print(f"[sweep] started {len(children)} more workers (logs in {sweep_dir}/worker*.log)", flush=True)
        return children


# --------------------------------------------------------------------------- samplers, pruners
def make_sampler(
    name: str, space: dict[str, Param], seed: int | None, existing: int, study_name: str, tpe: dict | None = None
):
    """random | grid | qmc | tpe. A fixed seed is offset by the trials already in the study,
    so a resumed sweep does not draw the same points again."""
    import optuna
    import optuna.samplers as s

    run_seed = None if seed is None else int(seed) + 7919 * existing
    if name == "random":
        return s.RandomSampler(seed=run_seed)
    if name == "grid":

        class Grid(s.GridSampler):
            def after_trial(self, study, trial, state, values) -> None:
                """Optuna's stops the study here, which is legal only inside optimize(); the
                sweeper's budget (the grid size) ends the sweep instead."""

        return Grid(_grid(space), seed=run_seed)
    if name == "qmc":  # the sequence index lives in the study: the seed must not change
        qseed = int(seed) if seed is not None else int(hashlib.sha1(study_name.encode()).hexdigest()[:7], 16)
        return s.QMCSampler(
            qmc_type="sobol",
            scramble=True,
            seed=qseed,
            warn_independent_sampling=False,
            warn_asynchronous_seeding=False,
        )
    if name == "tpe":  # constraints reach it through Trial.set_constraint (see _tell)
        opts = {"n_startup_trials": 10, "multivariate": True, "group": True, **(tpe or {})}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return s.TPESampler(seed=run_seed, **opts)
    raise SpaceError(f"hydra.sweeper.sampler={name!r}: use random, grid, qmc or tpe")


def make_pruner(cfg: Any):
    """{type: median|percentile|hyperband|successive_halving|threshold|none, ...its options}."""
    import optuna.pruners as p

    cfg = dict(_plain(cfg) or {"type": "none"})
    kind = str(cfg.pop("type", "none")).lower()
    kinds = {
        "none": p.NopPruner,
        "median": p.MedianPruner,
        "percentile": p.PercentilePruner,
        "hyperband": p.HyperbandPruner,
        "successive_halving": p.SuccessiveHalvingPruner,
        "threshold": p.ThresholdPruner,
    }
    if kind not in kinds:
        raise SpaceError(f"hydra.sweeper.pruner.type={kind!r}: use one of {', '.join(kinds)}")
    import inspect

    accepted = set(inspect.signature(kinds[kind]).parameters)
    unknown = set(cfg) - accepted
    if unknown - {"n_startup_trials", "n_warmup_steps", "interval_steps"}:  # the defaults' keys may stay
        raise SpaceError(
            f"hydra.sweeper.pruner: {kind} takes {', '.join(sorted(accepted)) or 'no options'}, not {', '.join(sorted(unknown))}"
        )
    return kinds[kind](**{k: v for k, v in cfg.items() if k in accepted})


def default_study_name(config: DictConfig, sampler: str, space: dict[str, Param], fixed: list[str]) -> str:
    """<sweep>-<hash of the space, the fixed overrides and the objective>: the same command
    names the same study (so running it again resumes); a changed space starts a new one."""
    choice = config.hydra.runtime.choices.get("sweep") or sampler
    objective = config.get("objective") or {}
    key = json.dumps(
        {
            "sampler": sampler,
            "space": {k: p.to_dict() for k, p in sorted(space.items())},
            "fixed": sorted(fixed),
            "metric": objective.get("metric"),
            "mode": objective.get("mode"),
        },
        sort_keys=True,
        default=str,
    )
    return f"{Path(str(choice)).name}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def _grid(space: dict[str, Param]) -> dict[str, list]:
    grid = {}
    for name, p in space.items():
        if p.kind == "categorical":
            grid[p.optuna_name] = list(p.choices)
        elif p.kind == "int":
            grid[p.optuna_name] = list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))
        elif p.step:
            n = int(round((p.high - p.low) / p.step)) + 1
            grid[p.optuna_name] = [p.low + i * p.step for i in range(n)]
        else:
            raise SpaceError(
                f"{name}: a grid needs listed values, e.g. tag(log, choice(1e-4, 1e-3, 1e-2)), not {p.expression()}"
            )
    return grid


def _grid_size(space) -> int:
    return math.prod(len(v) for v in _grid(space).values())


# --------------------------------------------------------------------------- helpers
def _existing(storage, name: str) -> list:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return []
    return storage.get_all_trials(study_id, deepcopy=False)


def _checkpoint_epoch(ckpt: Path) -> int | None:
    """The epoch a last.ckpt resumes in (the epochs it has wholly trained: a checkpoint from inside an
    epoch goes on in that epoch); None if there is none or it cannot be read (cut short)."""
    if not ckpt.is_file():
        return None
    import torch

    try:
        loops = torch.load(ckpt, map_location="cpu", weights_only=True)["loops"]
        return int(loops["fit_loop"]["epoch_progress"]["current"]["processed"])
    except Exception:  # noqa: BLE001 - a checkpoint cut short by the kill: the trial starts afresh
        return None


def _fail_stale(study) -> None:
    import optuna

    optuna.storages.fail_stale_trials(study)


def _heartbeat_on(study) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)


def _beat(study, trial_ids: list[int], interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        for trial_id in trial_ids:
            try:
                study._storage.record_heartbeat(trial_id)
            except Exception:  # noqa: BLE001 - a missed heartbeat only delays failure detection
                pass
        stop.wait(interval)


def _tell_safely(study, trial, state: str, error: str | None = None) -> str:
    try:
        if error:
            trial.set_user_attr("error", error)
        study.tell(trial, state=_state(state))
    except Exception as e:  # noqa: BLE001 - already finished (e.g. failed as stale)
        log.warning(f"could not mark trial {trial.number} {state}: {e}")
    return state


def _job_failed(study, trial, error: str) -> str:
    """The job ran and failed (a diverging loss, an exception): a FAIL with its reason, one
    line on the console, and the sweep goes on."""
    error = error[:400]  # a TrainingFailed message whole; a long library error cut
    trial.set_user_attr("job_failed", True)
    print(f"[sweep] trial {trial.number} failed: {error}", flush=True)
    return _tell_safely(study, trial, "FAIL", error=error)


def _state(name: str):
    from optuna.trial import TrialState

    return TrialState[name]


def _exists(cfg: DictConfig, name: str, lists: dict) -> bool:
    prefix, _, part = name.rpartition(".")
    if part in ("depth", "width") and prefix in lists:
        name = prefix
    return OmegaConf.select(cfg, name, default="__missing__", throw_on_missing=False) != "__missing__"


def _unknown_key_message(name: str, cfg: DictConfig) -> str:
    """One line: the key, what is close to it, and the fix."""
    import difflib

    keys: list[str] = []

    def walk(prefix: str, node) -> None:
        for k in node.keys() if OmegaConf.is_dict(node) else []:
            key = f"{prefix}.{k}" if prefix else str(k)
            keys.append(key)
            child = node._get_node(k)
            if OmegaConf.is_dict(child) and key != "hydra":
                walk(key, child)

    walk("", cfg)
    close = difflib.get_close_matches(name, keys, n=1, cutoff=0.7)
    hint = f"did you mean {close[0]}? " if close else ""
    return (
        f"search key {name!r} is not in the config under any choice of the config groups, so no trial could use it; "
        f"{hint}fix its spelling or drop it from the sweep (command line or hydra.sweeper.params)"
    )


def _select(cfg, key: str):
    try:
        return OmegaConf.select(cfg, key) if cfg is not None else None
    except Exception:  # noqa: BLE001
        return None


def _plain(node: Any) -> Any:
    if node is None:
        return None
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
