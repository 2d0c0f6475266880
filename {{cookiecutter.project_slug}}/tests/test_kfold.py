"""k-fold cross-validation for small data (M6): folds that rotate over the non-test data while
test stays the holdout's vault, the cross-validation summary of a multirun, a sweep whose
trials are scored by their mean over folds, and one-line errors for impossible folds."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import statistics
import sys

import numpy as np
import optuna
import pytest
import torch
from conftest import PROJECT, run_cli, run_script
from hydra.core.global_hydra import GlobalHydra

from {{cookiecutter.package_name}}.build import build_datamodule
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.datamodule import make_splits, resolve_fractions

SPLITS = ("train", "train_dev", "dev", "test")
# A fold of a few steps: one tiny epoch, no logger, no checks, no error-analysis pictures.
TINY = [
    "logger=none",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "++trainer.limit_train_batches=2",
    "++trainer.enable_progress_bar=false",
    "++checks.before_train=false",
    "analysis.error_analysis=false",
]


def indices(dm) -> dict[str, set]:
    """Each split's example indices, read through the loaders as any consumer reads them."""
    return {s: set(torch.cat([b[2] for b in dm.loader(s)]).tolist()) for s in SPLITS}


def multirun(*overrides: str) -> None:
    """`python train.py -m ...` in this process (pays `import lightning` once)."""
    spec = importlib.util.spec_from_file_location("train_script_for_kfold", PROJECT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main.__wrapped__.__module__ = "__main__"  # Hydra finds configs/ beside train.py
    argv, sys.argv = sys.argv, ["train.py", "-m", *overrides]
    try:
        module.main()
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()


def cv_summary(directory: str) -> int:
    """`python cv_summary.py dir=DIRECTORY` in this process: its exit code."""
    return run_script("cv_summary.py", f"dir={directory}")


# --------------------------------------------------------------------------- the folds
@pytest.mark.parametrize("data", ["breast_cancer", "diabetes", "digits_shifted"])
def test_folds_are_disjoint_cover_the_non_test_data_and_test_stays_the_holdouts(make_cfg, data):
    holdout = indices(build_datamodule(make_cfg(f"data={data}")))
    domain = build_datamodule(make_cfg(f"data={data}"), setup=False).source.load().domain
    everything = set().union(*holdout.values())
    target = everything if domain is None else set(np.flatnonzero(domain == 1).tolist())
    for k in (3, 5):
        modules = [
            build_datamodule(make_cfg(f"data={data}", "data.splits=kfold", f"data.folds={k}", f"data.fold={i}"))
            for i in range(k)
        ]
        folds = [indices(dm) for dm in modules]
        for fold, dm in zip(folds, modules):
            assert len(fold["train"]) % dm.batch_size != 1, "a last training batch of one example stops BatchNorm"
            assert fold["test"] == holdout["test"], "test must be the holdout's, for every fold and every K"
            assert sum(map(len, fold.values())) == len(set().union(*fold.values())), "the four splits share examples"
            assert fold["dev"] <= target and set().union(*fold.values()) == everything
            assert len(fold["train_dev"]) - len(holdout["train_dev"]) in (0, 1)  # 1: train without a lone last batch
        devs = [f["dev"] for f in folds]
        assert sum(map(len, devs)) == len(set().union(*devs)), "two folds share dev examples"
        assert set().union(*devs) == target - holdout["test"], "the dev folds must cover the non-test (target) data"
        assert max(map(len, devs)) - min(map(len, devs)) <= 1


def test_folds_are_stratified_and_the_default_splits_are_unchanged(make_cfg):
    y = np.asarray(build_datamodule(make_cfg("data=breast_cancer"), setup=False).source.load().targets)
    counts = np.array(
        [
            np.bincount(y[sorted(f["dev"])], minlength=2)
            for f in (
                indices(build_datamodule(make_cfg("data=breast_cancer", "data.splits=kfold", f"data.fold={i}")))
                for i in range(5)
            )
        ]
    )
    assert (counts.max(0) - counts.min(0) <= 1).all(), counts  # each class spread evenly over the folds
    default = indices(
        build_datamodule(make_cfg("data=breast_cancer"))
    )  # folds, fold at their defaults: today's holdout
    expected = make_splits(len(y), resolve_fractions("auto", len(y)), seed=0)
    assert default == {s: set(expected[s].tolist()) for s in SPLITS}


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.splits=kfold", "data.fold=5"], "data.fold=5 is outside 0..4"),
        (["data.splits=kfold", "data.folds=3", "data.fold=-1"], "data.fold=-1 is outside 0..2"),
        (["data.splits=kfold", "data.folds=1"], "data.folds=1: k-fold cross-validation needs at least 2 folds"),
        (["data.fold=2"], "data.fold=2 is given but data.splits=auto: folds exist only with data.splits=kfold"),
    ],
)
def test_impossible_folds_are_one_line_config_errors(make_cfg, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_datamodule(make_cfg("data=breast_cancer", *overrides))


def test_more_folds_than_examples_of_a_class_names_the_class(make_cfg, tmp_path):
    rows = [("a", 1.0)] * 30 + [("b", 2.0)] * 30 + [("rare", 3.0)] * 3
    path = tmp_path / "t.csv"
    path.write_text("label,x\n" + "".join(f"{label},{x + i / 100}\n" for i, (label, x) in enumerate(rows)))
    table = ["data=table", f"data.path={path}", "data.target=label", "data.splits=kfold"]
    with pytest.raises(ConfigError, match=r"data.folds=5 needs 5 examples of every class .* but class 'rare' has \d; "):
        build_datamodule(make_cfg(*table))
    build_datamodule(make_cfg(*table, "data.folds=2"))  # what the message suggests works


@pytest.mark.slow
def test_a_bad_fold_on_the_command_line_is_one_line_and_exit_2():
    result = run_cli("train.py", "data=breast_cancer", "data.splits=kfold", "data.fold=7", "logger=none")
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1, result.stderr[-2000:]
    assert err[0] == "error: data.fold=7 is outside 0..4 (data.folds=5); every fold: -m data.fold='range(5)'"


# --------------------------------------------------------------------------- the summary
@pytest.fixture(scope="module")
def kfold_multirun(tmp_path_factory):
    """python train.py -m data.splits=kfold data.folds=3 data.fold='range(3)', once for the tests below."""
    out = tmp_path_factory.mktemp("kfold") / "mr"
    multirun(
        "data=breast_cancer", "data.splits=kfold", "data.folds=3", "data.fold=range(3)", f"hydra.sweep.dir={out}", *TINY
    )
    return out


def test_the_multirun_writes_the_summary_whose_mean_is_the_mean_of_the_fold_runs(kfold_multirun, capsys):
    cv = json.loads((kfold_multirun / "cv_summary.json").read_text())  # written by the callback when the multirun ended
    runs = [json.loads((kfold_multirun / str(i) / "summary.json").read_text()) for i in range(3)]
    diagnoses = [json.loads((kfold_multirun / str(i) / "diagnosis.json").read_text()) for i in range(3)]
    assert (
        [row["fold"] for row in cv["per_fold"]] == [0, 1, 2]
        and cv["missing_folds"] == []
        and cv["metric"] == "accuracy"
    )
    for split in ("train", "train_dev", "dev"):
        values = [r["scores"][split] for r in runs]
        assert [row[split] for row in cv["per_fold"]] == values
        assert cv["mean"][split] == pytest.approx(statistics.fmean(values))
        assert cv["std"][split] == pytest.approx(statistics.stdev(values))
        assert cv["diagnosis"]["errors"][split] == pytest.approx(
            statistics.fmean(d["errors"][split] for d in diagnoses)
        )
    assert cv["n"]["dev"] == 569 - 57  # each non-test example scored once
    assert cv["test_split_reads"] == 0
    for gap in ("variance", "data_mismatch"):  # fold-averaged errors: tighter noise than any one fold's
        assert cv["diagnosis"]["gap_noise"][gap] < min(d["gap_noise"][gap] for d in diagnoses)
    capsys.readouterr()
    assert cv_summary(str(kfold_multirun)) == 0  # the command says the same again
    printed = capsys.readouterr().out
    assert (
        "Cross-validation, 3 of 3 folds" in printed and f"{cv['mean']['dev']:.4f}" in printed and "Diagnosis" in printed
    )
    assert json.loads((kfold_multirun / "cv_summary.json").read_text()) == cv


def test_runs_that_are_not_one_cross_validation_are_refused(kfold_multirun, tmp_path, capsys):
    mixed, twice = tmp_path / "mixed", tmp_path / "twice"
    for name in ("0", "1"):
        shutil.copytree(kfold_multirun / name, mixed / name)
    config = mixed / "1" / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.001", "lr: 0.01"))
    shutil.copytree(kfold_multirun / "0", twice / "a")
    shutil.copytree(kfold_multirun / "0", twice / "b")
    for folder, message in (
        (mixed, "differ in optimizer.lr (0.001 vs 0.01), not only in data.fold"),
        (twice, "fold 0 ran more than once"),
        (tmp_path / "none", "is not a folder"),
        (tmp_path, "no finished k-fold runs"),
    ):
        assert cv_summary(str(folder)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (mixed / "cv_summary.json").exists() and not (twice / "cv_summary.json").exists()


def test_a_multirun_that_is_not_kfold_gets_no_summary_and_no_note(tmp_path, capsys):
    multirun("data=breast_cancer", "optimizer.lr=0.001,0.01", f"hydra.sweep.dir={tmp_path}/mr", *TINY)
    captured = capsys.readouterr()
    assert (tmp_path / "mr" / "1" / "summary.json").is_file() and not (tmp_path / "mr" / "cv_summary.json").exists()
    assert "Cross-validation" not in captured.out and "cross-validation" not in captured.out + captured.err


# --------------------------------------------------------------------------- fold-averaged sweeps
def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_kfold_sweep_scores_each_trial_by_its_mean_over_folds(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/sweeps.db"
    mr = tmp_path / "mr"
    multirun(
        "sweep=random",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweep.dir={mr}",
        "data=breast_cancer",
        "data.splits=kfold",
        "data.folds=2",
        *TINY,
    )
    printed = capsys.readouterr().out
    (name,) = optuna.get_all_study_names(url)
    trials = {t.number: t for t in optuna.load_study(study_name=name, storage=url).trials}
    rows = read_csv(mr / "trials.csv")
    assert len(rows) == 2 and all(r["status"] == "COMPLETE" and r["test_split_reads"] == "0" for r in rows)
    for row in rows:
        folds = [
            json.loads((mr / f"trial_{row['trial']}" / f"fold_{i}" / "summary.json").read_text()) for i in range(2)
        ]
        dev = [f["scores"]["dev"] for f in folds]
        assert [f["output_dir"] for f in folds] == [str(mr / f"trial_{row['trial']}" / f"fold_{i}") for i in range(2)]
        assert [float(row[f"dev/accuracy fold {i}"]) for i in range(2)] == pytest.approx(dev)
        assert float(row["dev/accuracy"]) == pytest.approx(statistics.fmean(dev)) == trials[int(row["trial"])].value
        # two different dev folds, not one run twice: accuracies on ~140 examples can tie, all dev scores together do not
        dev_scores = [{k: v for k, v in f["all_scores"].items() if k.startswith("dev/")} for f in folds]
        assert dev_scores[0] != dev_scores[1]
    best = next(r for r in rows if r["best"] == "True")
    assert (
        "rerun: python train.py -m data=breast_cancer data.splits=kfold data.folds=2" in printed
        and "'data.fold=range(2)'" in printed
    )
    assert f"its folds: python cv_summary.py dir={mr / ('trial_' + best['trial'])}" in printed
    assert not (mr / "cv_summary.json").exists()  # a sweep is not one cross-validation: each trial is
    assert cv_summary(str(mr / f"trial_{best['trial']}")) == 0
    assert json.loads((mr / f"trial_{best['trial']}" / "cv_summary.json").read_text())["mean"]["dev"] == pytest.approx(
        float(best["dev/accuracy"])
    )


def test_a_trial_pruned_on_its_first_fold_trains_no_more_folds(tmp_path):
    mr = tmp_path / "mr"
    multirun(
        "sweep=qmc",
        "hydra.sweeper.n_trials=1",
        f"hydra.sweeper.storage=sqlite:///{tmp_path}/sweeps.db",
        f"hydra.sweep.dir={mr}",
        "hydra.sweeper.pruner.type=threshold",
        "+hydra.sweeper.pruner.lower=1.01",
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "data=breast_cancer",
        "data.splits=kfold",
        "data.folds=3",
        *TINY,
    )
    (row,) = read_csv(mr / "trials.csv")
    assert row["status"] == "PRUNED" and row["pruned_at_epoch"] == "0"
    assert (mr / "trial_0" / "fold_0" / "summary.json").is_file() and not (mr / "trial_0" / "fold_1").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.folds=1"], "data.folds=1: k-fold cross-validation needs a whole number of at least 2 folds"),
        (
            ["data.fold=0"],
            "data.fold is given, but under data.splits=kfold each trial of a sweep trains every fold itself",
        ),
        (["data.folds=choice(2, 3)"], "data.folds cannot be searched"),
    ],
)
def test_impossible_kfold_sweeps_stop_before_any_trial(tmp_path, capsys, overrides, message):
    with pytest.raises(SystemExit) as exit_info:
        multirun(
            "sweep=random",
            "hydra.sweeper.n_trials=1",
            f"hydra.sweeper.storage=sqlite:///{tmp_path}/sweeps.db",
            f"hydra.sweep.dir={tmp_path}/mr",
            "data=breast_cancer",
            "data.splits=kfold",
            *overrides,
            *TINY,
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "mr").exists()
