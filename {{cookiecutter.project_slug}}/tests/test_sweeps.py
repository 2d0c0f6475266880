"""Hyperparameter search (M26-M30): every sweep config runs and reports, learning rates are
log-uniform, coarse to fine narrows and flags a border optimum, constraints pick the best,
a killed sweep resumes, and two workers share one study in PostgreSQL."""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import itertools
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from conftest import CONFIG_DIR, PROJECT, run_script
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from scipy import stats

from {{cookiecutter.package_name}}.search.refine import refine, to_yaml
from {{cookiecutter.package_name}}.search.report import (
    parse_constraints,
    study_space,
    trial_rows,
    violations,
    write_plot,
    write_report,
)
from {{cookiecutter.package_name}}.search.space import overrides_for, parse_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

# A trial of a few steps: one or two tiny epochs, no logger, no per-trial checks.
TINY = [
    "logger=none",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=2",
    "++trainer.limit_val_batches=1",
    "++trainer.enable_progress_bar=false",
    "++checks.before_train=false",
]


def sweep_space(sweep: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"sweep={sweep}"], return_hydra_config=True)
    return parse_space(OmegaConf.to_container(cfg.hydra.sweeper.params), [])[0]


def multirun(*overrides: str) -> None:
    """`python train.py -m ...` in this process (pays `import lightning` once per session)."""
    spec = importlib.util.spec_from_file_location("train_script_under_test", PROJECT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main.__wrapped__.__module__ = "__main__"  # Hydra finds configs/ beside train.py
    argv = sys.argv
    sys.argv = ["train.py", "-m", *overrides]
    try:
        module.main()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- sampling
def test_random_sweep_samples_declared_marginals_not_bins():
    space = sweep_space("random")
    lr, beta, width = space["optimizer.lr"], space["optimizer.momentum"], space["model.net.hidden.width"]
    assert (lr.log, lr.low, lr.high) == (True, 1e-4, 1.0)
    assert beta.one_minus and (beta.low, beta.high) == pytest.approx((1e-3, 1e-1))

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    draws = {"lr": [], "beta": [], "width": [], "depth": []}
    for _ in range(2000):
        trial = study.ask()
        draws["lr"].append(lr.suggest(trial))
        draws["beta"].append(beta.suggest(trial))
        draws["width"].append(width.suggest(trial))
        draws["depth"].append(space["model.net.hidden.depth"].suggest(trial))
    x = np.log10(draws["lr"])
    assert stats.kstest(x, "uniform", args=(-4, 4)).pvalue > 1e-3  # log10(lr) ~ U(-4, 0)
    assert stats.kstest(draws["lr"], "uniform", args=(1e-4, 1 - 1e-4)).pvalue < 1e-12  # not uniform in lr
    per_decade = np.histogram(x, bins=[-4, -3, -2, -1, 0])[0] / len(x)
    assert np.allclose(per_decade, 0.25, atol=0.04), per_decade
    assert len(set(np.round(x, 6))) > 1900  # continuous, never binned

    b = np.array(draws["beta"])
    assert b.min() >= 0.9 and b.max() <= 0.999
    assert stats.kstest(np.log10(1 - b), "uniform", args=(-3, 2)).pvalue > 1e-3  # beta = 1 - 10^U(-3, -1)
    assert 0.3 < np.mean(b > 0.99) < 0.7  # half the draws above 0.99: uniform-in-beta would give ~9%

    w = np.array(draws["width"])
    assert w.dtype.kind == "i" and w.min() >= 16 and w.max() <= 512
    assert 0.44 < np.mean(w < math.sqrt(16 * 512)) < 0.56  # median at the geometric mean
    assert set(draws["depth"]) == {1, 2, 3}


def test_space_language_and_overrides():
    space, fixed = parse_space(
        {"optimizer.lr": "tag(log, interval(1e-4, 1))", "model.net.hidden.depth": "range(1, 4)"},
        ["model.net.hidden.width=choice(32,64)", "optimizer.lr=0.01", "trainer.max_epochs=3"],
    )
    assert "optimizer.lr" not in space  # fixed from the command line
    assert fixed == ["optimizer.lr=0.01", "trainer.max_epochs=3"]
    assert space["model.net.hidden.width"].choices == [32, 64]
    assert overrides_for({"model.net.hidden.depth": 3, "model.net.hidden.width": 64}) == [
        "model.net.hidden=[64, 64, 64]"
    ]
    again, _ = parse_space({k: p.expression() for k, p in space.items()})
    assert {k: p.to_dict() for k, p in again.items()} == {k: p.to_dict() for k, p in space.items()}
    with pytest.raises(ValueError, match="positive"):
        parse_space({"optimizer.lr": "tag(log, interval(0, 1))"})


@pytest.mark.slow
def test_a_misspelled_search_key_stops_the_sweep_a_conditional_one_is_skipped(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/sweeps.db"
    common = [
        "sweep=random",
        "hydra.sweeper.n_trials=1",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweep.dir={tmp_path}/mr",
        *TINY,
    ]
    with pytest.raises(SystemExit) as exit_info:
        multirun(*common, "optimizer.lrr=tag(log, interval(1e-5, 1e-2))")
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err  # one line, no traceback
    assert "'optimizer.lrr'" in err[0] and "did you mean optimizer.lr?" in err[0] and "spelling" in err[0]
    assert not list((tmp_path / "mr").glob("trial_*")) and not optuna.get_all_study_names(url)  # nothing ran
    # optimizer.momentum exists for sgd only: with optimizer=adam fixed it is not sampled, no error
    multirun(*common, "optimizer=adam")
    (row,) = read_csv(tmp_path / "mr" / "trials.csv")
    assert row["status"] == "COMPLETE" and row["optimizer.momentum"] == "" and row["optimizer.lr"]


def test_sweep_group_offers_only_sweeps():
    """The shared part of every sweep config is not a choice of the sweep group (train.py --help)."""
    assert sorted(p.stem for p in (CONFIG_DIR / "sweep").glob("*.yaml")) == ["grid", "qmc", "random", "tpe"]
    help_text = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=PROJECT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "sweep: grid, qmc, random, tpe\n" in help_text


def test_plot_tick_labels_are_readable(tmp_path, monkeypatch):
    """Every numeric axis has at least two tick labels and none overlap, also for a log-sampled
    integer (16..512) and for log ranges narrower than a decade (after coarse to fine)."""
    import matplotlib.pyplot as plt

    space, _ = parse_space(
        {
            "model.net.hidden.width": "tag(log, int(interval(16, 512)))",
            "optimizer.lr": "tag(log, interval(1e-4, 1.0))",
            "fine.lr": "tag(log, interval(3e-3, 8e-3))",
            "fine.width": "tag(log, int(interval(90, 140)))",
            "optimizer.momentum": "tag(one_minus_log, interval(0.95, 0.98))",
            "grid.lr": "tag(log, choice(1e-4, 1e-3, 1e-2))",
            "regularizer.dropout": "interval(0.0, 0.5)",
            "model.net.hidden.depth": "range(1, 4)",
        }
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    rows = []
    for i in range(20):
        trial = study.ask()
        rows.append(
            {
                "trial": i,
                "status": "COMPLETE",
                "satisficing_ok": True,
                "dev/accuracy": i / 20,
                "best": i == 3,
                **{k: p.suggest(trial) for k, p in space.items()},
            }
        )
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    write_plot(rows, space, "dev/accuracy", tmp_path / "trials.png")
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    for ax, name in zip(fig.axes, space):
        lo, hi = sorted(ax.get_xlim())
        boxes = sorted(
            (
                label.get_window_extent(renderer)
                for loc, label in zip(ax.xaxis.get_majorticklocs(), ax.get_xticklabels())
                if label.get_text() and lo <= loc <= hi
            ),
            key=lambda b: b.x0,
        )
        assert len(boxes) >= 2, f"{name}: {len(boxes)} tick labels"
        assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes)), f"{name}: tick labels overlap"
    plt.close(fig)


# --------------------------------------------------------------------------- each sweep config
@pytest.mark.parametrize(
    "sweep, extra",
    [
        ("random", ['++objective.satisficing=["params <= 1e9"]']),
        # the whole of a 2-point grid: the sweep ends when the grid is exhausted
        (
            "grid",
            [
                "hydra.sweeper.n_trials=null",
                "optimizer.lr=tag(log, choice(1e-3, 1e-2))",
                "regularizer.weight_decay=1e-5",
                "model.net.hidden.width=choice(64)",
            ],
        ),
        ("tpe", []),
        # a pruner that stops every trial at its first dev value: pruning works end to end
        (
            "qmc",
            [
                "hydra.sweeper.pruner.type=threshold",
                "+hydra.sweeper.pruner.lower=1.01",
                "hydra.sweeper.pruner.n_warmup_steps=0",
            ],
        ),
    ],
)
@pytest.mark.slow
def test_each_sweep_config_runs_a_tiny_sweep_and_writes_table_and_plot(tmp_path, sweep, extra):
    url = f"sqlite:///{tmp_path}/sweeps.db"
    multirun(
        f"sweep={sweep}",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweep.dir={tmp_path}/mr",
        *TINY,
        *extra,
    )
    rows = read_csv(tmp_path / "mr" / "trials.csv")
    png = tmp_path / "mr" / "trials.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    space = sweep_space(sweep)
    if sweep == "grid":
        assert sorted(float(r["optimizer.lr"]) for r in rows) == [1e-3, 1e-2]
        space.pop("regularizer.weight_decay")
    assert len(rows) == 2 and {"trial", "status", "dev/accuracy", "satisficing_ok", "best", *space} <= set(rows[0])
    assert all(r["test_split_reads"] == "0" for r in rows)  # sweeps select on dev, never on test
    if sweep == "qmc":
        assert [r["status"] for r in rows] == ["PRUNED", "PRUNED"] and all(r["pruned_at_epoch"] == "0" for r in rows)
    else:
        assert [r["status"] for r in rows] == ["COMPLETE", "COMPLETE"]
        assert sum(r["best"] == "True" for r in rows) == 1
        best = max(rows, key=lambda r: float(r["dev/accuracy"]))
        assert best["best"] == "True"
    if sweep == "random":
        assert all(float(r["params <= 1e+09"]) > 100 for r in rows)  # measured per trial
        trials = optuna.load_study(study_name=optuna.get_all_study_names(url)[0], storage=url).trials
        assert all(t.constraints["params <= 1e+09"] <= 0 for t in trials)  # and told to the sampler
    (study_name,) = optuna.get_all_study_names(url)
    study = optuna.load_study(study_name=study_name, storage=url)
    report = write_report(study, tmp_path / "again", echo=lambda *_: None)
    for name, p in study_space(study).items():  # log axes exactly where the space is sampled on a log scale
        assert report["scales"][name] == ("log" if p.log and (p.kind != "categorical" or p.numeric) else "linear"), name


# --------------------------------------------------------------------------- diverging trials
# A grid of two learning rates for SGD: 1e-2 trains, 1e12 makes the loss NaN at step 2 of the
# four steps below (the non-finite-loss guard: config.TrainingFailed, exit 1 in a single run).
DIVERGING = [
    "sweep=grid",
    "hydra.sweeper.n_trials=null",
    "optimizer=sgd",
    "optimizer.lr=tag(log, choice(1e-2, 1e12))",
    "regularizer.weight_decay=1e-5",
    "model.net.hidden.width=choice(64)",
    *[o for o in TINY if "limit_train_batches" not in o],
    "++trainer.limit_train_batches=4",
]
NAN_AT_A_STEP = "TrainingFailed: the training loss became nan at step "


@pytest.mark.slow
@pytest.mark.parametrize("kfold", [False, True])
def test_a_diverging_trial_is_a_failed_trial_and_the_sweep_goes_on(tmp_path, capsys, kfold):
    url = f"sqlite:///{tmp_path}/sweeps.db"
    folds = ["data.splits=kfold", "data.folds=2"] if kfold else []
    common = [*DIVERGING, *folds, f"hydra.sweeper.storage={url}"]
    code = run_script("train.py", "-m", *common, f"hydra.sweep.dir={tmp_path}/first")
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    rows = {float(r["optimizer.lr"]): r for r in read_csv(tmp_path / "first" / "trials.csv")}
    bad, good = rows[1e12], rows[1e-2]
    assert bad["status"] == "FAIL" and bad["error"].startswith(("fold 0: " if kfold else "") + NAN_AT_A_STEP)
    assert bad["job_dir"] == str(tmp_path / "first" / f"trial_{bad['trial']}")  # the trial's folder, folds or not
    assert f"[sweep] trial {bad['trial']} failed: " in out
    assert good["status"] == "COMPLETE" and good["best"] == "True" and f"best trial {good['trial']}:" in out
    if kfold:  # the diverging trial stopped at fold 0; the other trained both folds
        assert not (tmp_path / "first" / f"trial_{bad['trial']}" / "fold_1").exists()
        assert good["dev/accuracy fold 1"]
    assert (tmp_path / "first" / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (name,) = optuna.get_all_study_names(url)
    trial = next(t for t in optuna.load_study(study_name=name, storage=url).trials if t.state.name == "FAIL")
    assert trial.user_attrs["error"] == bad["error"]  # the reason lives in the study, not only in the table

    # The same command again (a new sweep folder, as a new <date>/<time> is): the grid is done,
    # the failed point was tried and is not run again; the new folder's table is the whole study.
    code = run_script("train.py", "-m", *common, f"hydra.sweep.dir={tmp_path}/again")
    out = capsys.readouterr().out
    assert code == 0 and "resuming study" in out and "failed: " not in out
    assert len(optuna.load_study(study_name=name, storage=url).trials) == 2
    assert not list((tmp_path / "again").glob("trial_*"))
    again = {float(r["optimizer.lr"]): r for r in read_csv(tmp_path / "again" / "trials.csv")}
    assert again[1e12]["status"] == "FAIL" and again[1e12]["error"] == bad["error"]
    assert again[1e12]["job_dir"] == bad["job_dir"] and again[1e-2]["best"] == "True"  # where each trial ran
    assert (tmp_path / "first" / "trials.csv").is_file()  # the first run's table stays where it was


@pytest.mark.slow
def test_a_sweep_where_every_trial_diverges_exits_1_with_one_line(tmp_path):
    grid = [o if not o.startswith("optimizer.lr=") else "optimizer.lr=tag(log, choice(1e12, 1e13))" for o in DIVERGING]
    sweep_dir = tmp_path / "mr"
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "-m",
            *grid,
            f"hydra.sweeper.storage=sqlite:///{tmp_path}/sweeps.db",
            f"hydra.sweep.dir={sweep_dir}",
            "hydra.sweeper.n_workers=2",  # a worker process fails its trial the same way
            "hydra.sweeper.heartbeat.interval=1",
        ],
        cwd=PROJECT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(err) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert err[0].startswith("error: no trial of study grid-") and "finished (2 failed)" in err[0]
    rows = read_csv(sweep_dir / "trials.csv")  # the table and plot are written all the same
    assert [r["status"] for r in rows] == ["FAIL", "FAIL"] and all(r["error"].startswith(NAN_AT_A_STEP) for r in rows)
    assert (sweep_dir / "trials.png").is_file() and "no best trial" in done.stdout


# --------------------------------------------------------------------------- study fixtures
def synthetic_study(tmp_path, params: dict, n: int, score, satisficing=None, metrics=None, seed=0):
    """A finished study without training: `score(values)` plays the dev accuracy."""
    space, _ = parse_space(params)
    memory = optuna.storages.InMemoryStorage()  # drawn in memory, then stored at once (fast)
    study = optuna.create_study(
        study_name="syn", storage=memory, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    for key, value in {
        "space": {k: p.to_dict() for k, p in space.items()},
        "objective": {"metric": "accuracy", "mode": "max"},
        "satisficing": satisficing,
        "sampler": "random",
        "sweep": "random",
        "n_trials": n,
        "fixed_overrides": ["trainer.max_epochs=5"],
    }.items():
        study.set_user_attr(key, value)
    for i in range(n):
        trial = study.ask()
        values = {k: p.suggest(trial) for k, p in space.items()}
        trial.set_user_attr("values", values)
        trial.set_user_attr("metrics", metrics(i, values) if metrics else {})
        study.tell(trial, score(values))
    optuna.copy_study(from_study_name="syn", from_storage=memory, to_storage=f"sqlite:///{tmp_path}/syn.db")
    return optuna.load_study(study_name="syn", storage=f"sqlite:///{tmp_path}/syn.db")


def test_coarse_to_fine_narrows_and_flags_a_border_optimum(tmp_path, capsys):
    # Best lr at 1e-2 (inside the range); accuracy keeps rising as weight decay falls (border).
    def score(v):
        return (
            1 - (math.log10(v["optimizer.lr"]) + 2) ** 2 / 10 - 0.05 * (math.log10(v["regularizer.weight_decay"]) + 6)
        )

    study = synthetic_study(
        tmp_path,
        {
            "optimizer.lr": "tag(log, interval(1e-4, 1.0))",
            "regularizer.weight_decay": "tag(log, interval(1e-6, 1e-2))",
            "optimizer.momentum": "tag(one_minus_log, interval(0.9, 0.999))",
        },
        n=60,
        score=score,
    )
    ref = refine(study, top=0.2)
    lr_old, lr = ref.old["optimizer.lr"], ref.space["optimizer.lr"]
    assert lr_old.low <= lr.low < 1e-2 < lr.high <= lr_old.high
    assert math.log10(lr.high / lr.low) < 0.75 * math.log10(lr_old.high / lr_old.low)  # narrower, on the log scale
    assert len(ref.flags) == 1 and "regularizer.weight_decay" in ref.flags[0] and "lower border" in ref.flags[0]
    assert ref.space["regularizer.weight_decay"].low < 1e-6  # the new range goes past the flagged border
    assert ref.space["optimizer.momentum"].one_minus  # beta stays sampled as 1 - 10^U

    # The command writes a sweep config that Hydra composes and the sweeper reads back.
    out = tmp_path / "sweep"
    assert (
        run_script(
            "refine_sweep.py", f"storage=sqlite:///{tmp_path}/syn.db", "study=syn", "top=0.2", f"config_dir={out}"
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "EXPAND THE RANGE: regularizer.weight_decay" in printed
        and "next: python train.py -m sweep=random_fine trainer.max_epochs=5" in printed
    )
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=["sweep=random_fine", f"hydra.searchpath=[file://{tmp_path}]"], return_hydra_config=True
        )
    written, _ = parse_space(OmegaConf.to_container(cfg.hydra.sweeper.params))
    assert {k: p.expression() for k, p in written.items()} == {k: p.expression() for k, p in ref.space.items()}
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.n_trials == 60


def test_coarse_to_fine_at_a_hard_limit_says_so_and_never_overwrites(tmp_path, capsys):
    # Accuracy falls with dropout: the best value sits at 0, which nothing can go below.
    study = synthetic_study(
        tmp_path,
        {"regularizer.dropout": "interval(0.0, 0.5)", "optimizer.lr": "tag(log, interval(1e-4, 1.0))"},
        n=40,
        score=lambda v: 1 - v["regularizer.dropout"] - (math.log10(v["optimizer.lr"]) + 2) ** 2 / 20,
    )
    ref = refine(study, top=0.2)
    assert ref.flags == [] and len(ref.limits) == 1 and "regularizer.dropout" in ref.limits[0]
    assert "limit of what is possible" in ref.limits[0] and "expand" not in ref.limits[0].lower()
    assert ref.space["regularizer.dropout"].low == 0.0
    assert "EXPAND" not in to_yaml(ref, study)

    args = [f"storage=sqlite:///{tmp_path}/syn.db", "study=syn", "top=0.2", f"config_dir={tmp_path}"]
    assert run_script("refine_sweep.py", *args) == 0
    printed = capsys.readouterr().out
    assert "EXPAND" not in printed and "regularizer.dropout" in printed and "limit of what is possible" in printed
    written = tmp_path / "random_fine.yaml"
    written.write_text("# my edits\n")
    assert run_script("refine_sweep.py", *args) == 2  # an existing config is never replaced silently
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(written) in err[0] and "output=<another name>" in err[0] and "overwrite=true" in err[0]
    assert written.read_text() == "# my edits\n"
    assert (
        run_script("refine_sweep.py", *args, "output=random_fine2") == 0 and (tmp_path / "random_fine2.yaml").is_file()
    )
    assert "next: python train.py -m sweep=random_fine2" in capsys.readouterr().out
    assert run_script("refine_sweep.py", *args, "overwrite=true") == 0 and "defaults:" in written.read_text()


def test_coarse_to_fine_on_a_log_grid(tmp_path):
    study = synthetic_study(
        tmp_path,
        {"optimizer.lr": "tag(log, choice(1e-4, 1e-3, 1e-2, 1e-1))"},
        n=12,
        score=lambda v: math.log10(v["optimizer.lr"]),
    )  # best at the top end
    ref = refine(study, top=0.25)
    grid = ref.space["optimizer.lr"].choices
    assert ref.flags and "upper end of the grid" in ref.flags[0]
    assert max(grid) == pytest.approx(1.0) and min(grid) >= 1e-2 and len(grid) >= 4  # denser, one step past the end
    assert "tag(log, choice(" in to_yaml(ref, study)


# --------------------------------------------------------------------------- constraints
@pytest.mark.parametrize("satisficing", [["params <= 1000"], {"params": "<= 1000"}])
def test_satisficing_constraints_decide_the_best_trial(tmp_path, satisficing):
    sizes = [5000, 500, 100, 800]
    scores = {5000: 0.95, 500: 0.90, 100: 0.70, 800: 0.80}
    study = synthetic_study(
        tmp_path,
        {"model.net.hidden.width": "choice(5000, 500, 100, 800)"},
        n=12,
        score=lambda v: scores[v["model.net.hidden.width"]],
        metrics=lambda i, v: {"params": v["model.net.hidden.width"]},
        satisficing=satisficing,
    )
    rows = trial_rows(study)
    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["model.net.hidden.width"] == 500  # 5000 scores higher but is too big
    assert all(r["satisficing_ok"] == (r["model.net.hidden.width"] <= 1000) for r in rows)
    # The sweeper tells TPE how far each trial violates them (Trial.set_constraint: <= 0 holds).
    constraints = parse_constraints(satisficing)
    assert violations(constraints, {"params": 5000}) == {"params <= 1000": 4000.0}
    assert violations(constraints, {"params": 500})["params <= 1000"] <= 0
    assert violations(constraints, {})["params <= 1000"] > 0  # unmeasured never satisfies
    assert {t.user_attrs["values"]["model.net.hidden.width"] for t in study.trials} == set(sizes)


# --------------------------------------------------------------------------- resume, parallel
def sweep_command(tmp_path, url, n, *extra):
    return [
        sys.executable,
        "train.py",
        "-m",
        "sweep=random",
        f"hydra.sweeper.n_trials={n}",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.heartbeat.interval=1",
        "hydra.sweeper.heartbeat.grace_period=2",
        *TINY,
        *extra,
    ]


def env():
    return {**os.environ, "PYTHONPATH": str(PROJECT / "src")}


# Seeded points of a sweep: after 1 or 2 finished trials, then a random delay into the next.
_draw = random.Random(0)
SWEEP_FAULTS = [(name, _draw.choice([1, 2]), round(_draw.uniform(0.0, 2.0), 2)) for name in ("SIGKILL", "SIGTERM")]


@pytest.mark.slow
@pytest.mark.parametrize("signal_name, after_trials, delay_s", SWEEP_FAULTS)
def test_killed_sweep_resumes_without_losing_or_rerunning_trials(tmp_path, signal_name, after_trials, delay_s):
    db = tmp_path / "sweeps.db"
    cmd = sweep_command(tmp_path, f"sqlite:///{db}", 4, f"hydra.sweep.dir={tmp_path}/mr")
    first = subprocess.Popen(
        cmd, cwd=PROJECT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline, done = time.time() + 240, 0
    while done < after_trials and time.time() < deadline and first.poll() is None:
        time.sleep(0.3)
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db)) as con:
            done = con.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    time.sleep(delay_s)
    # SIGKILL: hard, no clean-up runs; SIGTERM: what a scheduler sends, to every process of the sweep
    os.killpg(first.pid, getattr(signal, signal_name))
    assert first.wait(timeout=120) != 0, "a stopped sweep does not exit 0"
    assert done >= after_trials, f"the first sweep did not finish {after_trials} trials"
    (name,) = optuna.get_all_study_names(f"sqlite:///{db}")
    before = {
        t.number: t
        for t in optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
        if t.state.name == "COMPLETE"
    }
    stamps = {n: (tmp_path / "mr" / f"trial_{n}" / "summary.json").stat().st_mtime_ns for n in before}

    again = subprocess.run(cmd, cwd=PROJECT, env=env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming study" in again.stdout
    trials = optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4
    for n, t in before.items():  # kept as they were, and not run again
        assert trials[n].state.name == "COMPLETE" and trials[n].params == t.params and trials[n].value == t.value
        assert (tmp_path / "mr" / f"trial_{n}" / "summary.json").stat().st_mtime_ns == stamps[n]
    killed = [t for t in trials if t.state.name == "FAIL"]
    # A killed trial is queued again with what it had drawn (maybe killed while drawing: a subset).
    assert all(any(k.params.items() <= c.params.items() for c in complete if c.number > k.number) for k in killed)
    assert len(read_csv(tmp_path / "mr" / "trials.csv")) == len(trials)


POSTGRES = os.environ.get("SWEEP_TEST_POSTGRES", "postgresql://recipe:recipe@127.0.0.1:5432/recipe_sweeps")


def postgres_or_skip() -> str:
    reason = None
    try:
        import psycopg

        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except ImportError:
        reason = "psycopg is not installed (pip install '.[postgres]')"
    except Exception as e:  # noqa: BLE001
        reason = (
            f"no PostgreSQL server at {POSTGRES.split('@')[-1]} ({type(e).__name__}); "
            "tests/services.sh at the template root starts one (CI runs it)"
        )
    if reason:
        if os.environ.get("SWEEP_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    return POSTGRES


@pytest.mark.slow
def test_two_workers_share_one_study_in_postgresql(tmp_path):
    url = postgres_or_skip()
    name, n = f"test-{uuid.uuid4().hex[:8]}", 4
    workers = [
        subprocess.Popen(
            sweep_command(
                tmp_path,
                "${oc.env:SWEEP_STORAGE}",
                n,
                f"hydra.sweeper.study_name={name}",
                f"hydra.sweep.dir={tmp_path}/w{i}",
            ),
            cwd=PROJECT,
            env={**env(), "SWEEP_STORAGE": url},  # a URL with a password comes from the environment (docs/sweeps.md)
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    try:
        trials = [t for t in optuna.load_study(study_name=name, storage=url).trials if not t.user_attrs.get("skipped")]
        finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
        assert len(finished) == n == len(trials)  # none lost, none extra
        assert len({t.number for t in finished}) == n
        ran = sorted(p.parent.name for p in tmp_path.glob("w*/trial_*/summary.json"))
        assert ran == sorted(f"trial_{t.number}" for t in finished)  # each trial ran exactly once
        assert len({t.user_attrs["worker"] for t in finished}) == 2  # both workers took trials
        for w in range(2):  # both workers end with the table of the whole study
            assert len(read_csv(tmp_path / f"w{w}" / "trials.csv")) == n
    finally:
        optuna.delete_study(study_name=name, storage=url)


# --------------------------------------------------------------------------- bad sweeps and sweeps that would mislead
@pytest.mark.parametrize(
    "budget, message",
    [
        ("hydra.sweeper.n_trials=-3", "n_trials=-3 runs no trial"),
        ("hydra.sweeper.n_trials=0", "n_trials=0 runs no trial"),
        ("hydra.sweeper.timeout=0", "timeout=0 leaves no time"),
        ("hydra.sweeper.n_workers=0", "n_workers=0 must be >= 1"),
    ],
)
def test_a_budget_that_runs_nothing_is_a_one_line_error(tmp_path, capsys, budget, message):
    with pytest.raises(SystemExit) as exit_info:
        multirun(
            "sweep=random",
            f"hydra.sweeper.storage=sqlite:///{tmp_path}/s.db",
            f"hydra.sweep.dir={tmp_path}/mr",
            *TINY,
            budget,
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and message in err[0], err


def test_a_list_part_fixed_on_the_command_line_composes_the_list():
    space, fixed = parse_space(
        {"model.net.hidden.depth": "range(1, 4)", "model.net.hidden.width": "tag(log, int(interval(16, 512)))"},
        ["model.net.hidden.depth=2"],
    )
    assert fixed == [] and space["model.net.hidden.depth"].choices == [
        2
    ]  # fixed: a one-value entry, no config key of its own
    assert overrides_for({"model.net.hidden.depth": 2, "model.net.hidden.width": 64}) == ["model.net.hidden=[64, 64]"]


@pytest.mark.slow
def test_a_random_sweep_with_a_fixed_depth_runs(tmp_path):
    from {{cookiecutter.package_name}}.cli import list_parts_as_sweeps

    argv = list_parts_as_sweeps(["-m", "model.net.hidden.depth=2"])  # what train.py makes of the command line
    assert argv == ["-m", "model.net.hidden.depth=choice(2)"]
    multirun(
        "sweep=random",
        "hydra.sweeper.n_trials=1",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/s.db",
        f"hydra.sweep.dir={tmp_path}/mr",
        *TINY,
        argv[1],
    )
    (row,) = read_csv(tmp_path / "mr" / "trials.csv")
    assert row["status"] == "COMPLETE" and float(row["model.net.hidden.depth"]) == 2


@pytest.mark.slow
def test_the_same_sweep_in_another_folder_says_where_its_study_began(tmp_path, capsys):
    common = ["sweep=random", "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage=sqlite:///{tmp_path}/s.db", *TINY]
    multirun(*common, f"hydra.sweep.dir={tmp_path}/first")
    capsys.readouterr()
    multirun(*common[:1], "hydra.sweeper.n_trials=2", *common[2:], f"hydra.sweep.dir={tmp_path}/second")
    out = capsys.readouterr().out
    assert f"this study began in {tmp_path / 'first'}" in out and str(tmp_path / "second") in out


def test_a_refined_log_grid_is_denser_and_no_wider():
    old = [1e-4, 1e-3, 1e-2]
    for best, spread in ((1e-4, [1e-4, 1e-2]), (1e-3, [1e-4, 1e-3, 1e-2]), (1e-2, [1e-3, 1e-2])):
        study_values = [{"optimizer.lr": v} for v in spread]
        from {{cookiecutter.package_name}}.search.refine import _refine_grid
        from {{cookiecutter.package_name}}.search.space import Param

        new, _ = _refine_grid(
            Param("optimizer.lr", "categorical", log=True, choices=old),
            [v["optimizer.lr"] for v in study_values],
            best,
            expand=0.5,
        )
        logs = np.log10(new.choices)
        assert np.max(np.diff(logs)) < 1.0, f"no denser than the old decade steps: {new.choices}"
        assert logs[-1] - logs[0] <= 2.0 + 1e-9 and min(abs(logs - np.log10(best))) < 1e-9, new.choices


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_a_trial_killed_mid_training_continues_from_its_last_checkpoint_on_resume(tmp_path, signal_name):
    """The sweep process is stopped inside its first trial's third epoch (SIGTERM: last.ckpt at that
    batch; SIGKILL: the epoch-end last.ckpt before it); the same command again continues that trial
    from its checkpoint, with its parameters, in its folder, rather than from epoch 0."""
    db = tmp_path / "sweeps.db"
    fault = ["+callbacks.fault._target_=fault_points.SignalAtStep", "+callbacks.fault.step=5",
             f"+callbacks.fault.signal_name={signal_name}", f"+callbacks.fault.marker={tmp_path / 'fired'}"]  # fmt: skip
    cmd = sweep_command(tmp_path, f"sqlite:///{db}", 2, f"hydra.sweep.dir={tmp_path}/mr", "trainer.max_epochs=4",
                        "callbacks.last_checkpoint.every_s=0", *fault)  # fmt: skip
    with_faults = {**env(), "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests")])}
    first = subprocess.run(cmd, cwd=PROJECT, env=with_faults, capture_output=True, text=True, timeout=300)
    assert first.returncode == (143 if signal_name == "SIGTERM" else -9), first.stderr[-3000:]
    trial_dir = tmp_path / "mr" / "trial_0"
    saved = torch.load(trial_dir / "checkpoints" / "last.ckpt", weights_only=True)
    at_epoch = saved["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]  # the epoch it resumes in
    # 2 steps an epoch (TINY). SIGTERM after step 5: it stops after the next batch but one (step 6 ends
    # epoch 2, which ends first), inside epoch 3. SIGKILL: an epoch end's last.ckpt, that of epoch 1 or,
    # when the kill came before the background writer had finished it, epoch 0's
    if signal_name == "SIGTERM":
        assert (at_epoch, saved["global_step"]) == (3, 7)
    else:
        assert at_epoch in (1, 2) and saved["global_step"] == 2 * at_epoch

    again = subprocess.run(cmd, cwd=PROJECT, env=with_faults, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    (name,) = optuna.get_all_study_names(f"sqlite:///{db}")
    trials = optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]  # 2 trials asked, both finished
    killed, resumed = trials[0], trials[1]
    assert resumed.params == killed.params
    assert f"trial 1 continues killed trial 0 at epoch {at_epoch} from {trial_dir / 'checkpoints'}" in again.stdout
    summary = json.loads((trial_dir / "summary.json").read_text())
    assert summary["epochs"] == 4 and resumed.value == pytest.approx(summary["scores"]["dev"])
    history = json.loads((trial_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3], "one history, continued from the saved epoch"
    assert sorted(resumed.intermediate_values) == [0, 1, 2, 3]  # the killed epochs' reports carried over
    assert all(resumed.intermediate_values[e] == v for e, v in killed.intermediate_values.items() if e < at_epoch)
    rows = {int(r["trial"]): r for r in read_csv(tmp_path / "mr" / "trials.csv")}
    assert rows[1]["resumed_from"] == f"trial 0 at epoch {at_epoch}: {trial_dir / 'checkpoints' / 'last.ckpt'}"
    assert rows[1]["job_dir"] == str(trial_dir) and rows[1]["error"] == "" and rows[2]["resumed_from"] == ""
    assert not (tmp_path / "mr" / "trial_1").exists(), "the continued trial ran in the killed trial's folder"
