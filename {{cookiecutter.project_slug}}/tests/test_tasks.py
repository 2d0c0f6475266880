"""Task kinds (tasks/): multilabel with missing labels, regression in any units, remedies for
class imbalance, and the output layer found by data flow. Each kind runs through train,
check, diagnose, evaluate and predict; the pieces that could silently go wrong (a NaN label
in the loss, class weights, the balanced sampler) are tested on their numbers."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import PROJECT, compose_train
from torch import nn

from {{cookiecutter.package_name}}.build import build_datamodule, build_model
from {{cookiecutter.package_name}}.checks import run_checks
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule
from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint
from {{cookiecutter.package_name}}.evaluation.new_inputs import predict_file
from {{cookiecutter.package_name}}.model.initialization import output_layer
from {{cookiecutter.package_name}}.tasks import kinds, make_task
from {{cookiecutter.package_name}}.training.fit import train
from {{cookiecutter.package_name}}.user.sources import load_diabetes, load_digits
from {{cookiecutter.package_name}}.vault.final_evaluation import evaluate

HERE = __name__
SHORT = ["logger=none", "trainer.enable_progress_bar=false", "checks.before_train=fast"]


def compose_run(out: Path, *overrides: str):
    return compose_train(out, *SHORT, *overrides)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def diabetes_in_millions():
    """Diabetes with its targets in 1e6 units: the checks must not care about the units."""
    d = load_diabetes()
    return {**d, "y": d["y"] * 1e6}


def skewed_digits():
    """Digits 0-7 with 8 and 9 cut to 12 examples each."""
    d = load_digits()
    keep = ~np.isin(d["y"], [8, 9]) | (np.arange(len(d["y"])) % 15 == 0)
    return {"x": d["x"][keep], "y": d["y"][keep]}


# --------------------------------------------------------------------------- each kind end to end
KIND_RUNS = {
    "multilabel": ["+experiment=multilabel_digits", "trainer.max_epochs=4"],
    "regression": [
        "data=diabetes",
        f"data.source._target_={HERE}.diabetes_in_millions",
        "objective.metric=mae",
        "objective.mode=min",
        "trainer.max_epochs=30",
    ],
    "binary": ["data=breast_cancer", "imbalance=class_weights", "trainer.max_epochs=4"],
    "multiclass": ["+experiment=imbalanced_digits", "imbalance=balanced_sampler", "trainer.max_epochs=4"],
}


@pytest.fixture(scope="module", params=list(KIND_RUNS))
def kind_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    cfg = compose_run(out, *KIND_RUNS[request.param])
    return request.param, out, cfg, train(cfg)


@pytest.mark.slow
def test_each_kind_trains_checks_diagnoses_evaluates_and_predicts(kind_run, tmp_path):
    kind, out, cfg, summary = kind_run
    assert summary["test_split_reads"] == 0
    results = run_checks(cfg, out_dir=tmp_path / "checks")
    alarms = {r.id: (r.status, r.message) for r in results if r.status != "pass"}
    if kind == "regression":
        assert alarms.pop("data.class_balance")[0] == "skip"
    assert alarms == {}, alarms  # every check, with no output_bias_from_prior trick, whatever the target's units

    diagnosis = diagnose_checkpoint(summary["best_checkpoint"], out_dir=str(tmp_path / "diag"))
    assert diagnosis["test_split_reads"] == 0 and set(diagnosis["scores"]) >= {"train", "train_dev", "dev"}
    result = evaluate(
        [summary["best_checkpoint"]], PROJECT, ledger=tmp_path / "ledger.jsonl", out_dir=tmp_path / "eval"
    )
    assert result["scores"]["test"]["n"] > 0

    dm = build_datamodule(cfg)
    raw = dm.standardizer.inverse(dm.sample("dev", 6)[0]).numpy()
    np.save(tmp_path / "new.npy", raw)
    rows = predict_file(summary["best_checkpoint"], str(tmp_path / "new.npy"))["rows"]
    assert len(rows) == 6
    if kind == "multilabel":
        names = ["even", "greater_than_4", "has_loop"]
        assert summary["scores"]["dev"] > 0.8  # macro F1 over the labels present
        assert all(
            set(r["prediction"].split(";")) <= set(names) | {""} and all(f"p_{n}" in r for n in names) for r in rows
        )
        per_label = read_csv(out / "per_label_metrics.csv")
        assert [r["label"] for r in per_label] == names and all(int(r["missing"]) > 0 for r in per_label)
        worst = read_csv(out / "worst_mistakes.csv")
        assert worst and all(r["wrong_labels"] for r in worst)
    elif kind == "regression":
        # In the user's units: the predictions and the dev MAE are in the millions, not standardized.
        y = dm.targets("train")
        assert all(0.2 * float(y.mean()) < r["prediction"] < 3 * float(y.mean()) for r in rows)
        assert 1e6 < diagnosis["scores"]["dev"]["mae"] < float(y.std())  # better than the spread, in 1e6 units
        ckpt = torch.load(summary["best_checkpoint"], weights_only=True)
        assert math.isclose(float(ckpt["state_dict"]["task.target_mean"]), float(y.mean()), rel_tol=1e-4)
    elif kind == "binary":
        assert summary["scores"]["dev"] > 0.85 and {r["prediction"] for r in rows} <= {"malignant", "benign"}
    else:  # digits 5-9 rare, drawn evenly: balanced accuracy is the objective
        assert cfg.objective.metric == "balanced_accuracy" and summary["scores"]["dev"] > 0.7
        assert {r["prediction"] for r in rows} <= {str(c) for c in range(10)}


def test_every_kind_has_its_config_and_names():
    # the recipe's four, then the example of your own in user/huber_loss.py
    # the recipe's four first, then yours (user/huber_loss.py is the shipped example)
    assert set(kinds()[:4]) == {"multiclass", "binary", "multilabel", "regression"}
    assert ("huber" in kinds()) == (PROJECT / "src" / "{{cookiecutter.package_name}}" / "user" / "huber_loss.py").is_file()
    for kind in kinds():
        task = make_task(kind, 3 if kind in ("multiclass", "multilabel") else (2 if kind == "binary" else None))
        assert task.kind == kind and task.metric_names and task.loss_name


# --------------------------------------------------------------------------- multilabel
def test_a_missing_label_never_reaches_the_multilabel_loss():
    task = make_task("multilabel", 3)
    y = torch.tensor([[1.0, float("nan"), 0.0], [float("nan"), float("nan"), 1.0]])
    out = torch.randn(2, 3, requires_grad=True)
    loss = task.loss(out, y)
    present = ~y.isnan()
    expected = F.binary_cross_entropy_with_logits(out[present], y[present], reduction="sum") / len(y)
    assert torch.isfinite(loss) and torch.allclose(loss, expected)
    loss.backward()
    assert torch.isfinite(out.grad).all() and (out.grad[~present] == 0).all() and (out.grad[present] != 0).all()
    # Whatever the net outputs where a label is missing changes nothing.
    moved = out.detach().clone()
    moved[~present] += 100.0
    assert torch.allclose(task.loss(moved, y), loss.detach())


def test_multilabel_metrics_skip_missing_labels():
    task = make_task("multilabel", 2)
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0], [float("nan"), 0.0]])
    out = torch.tensor([[5.0, -5.0], [-5.0, 5.0], [-5.0, -5.0]])  # right wherever a label is known, wrong where missing
    metrics = task.metrics()
    metrics.update(task.predict(out), task.metric_target(y))
    assert {k: float(v) for k, v in metrics.compute().items()} == {"accuracy": 1.0, "balanced_accuracy": 1.0, "f1": 1.0}
    assert task.correct(out, y).all()


def test_multilabel_targets_are_read_with_nan_or_minus_one_as_missing(make_cfg):
    dm = build_datamodule(make_cfg("data=digits_multilabel"))
    y = dm.targets("train")
    assert dm.spec.task == "multilabel" and dm.spec.class_names == ["even", "greater_than_4", "has_loop"]
    assert y.shape[1] == 3 and 0.1 < float(y.isnan().float().mean()) < 0.3
    bad = {"x": np.zeros((40, 4), np.float32), "y": np.tile([[0, 1], [2, 0]], (20, 1))}
    with pytest.raises(ConfigError, match="0, 1, or NaN"):
        FourSplitDataModule(lambda: bad, task="multilabel").setup()
    minus_one = {
        "x": np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32),
        "y": np.tile([[0, 1], [-1, 0]], (20, 1)),
    }
    dm = FourSplitDataModule(lambda: minus_one)
    dm.setup()
    assert dm.spec.task == "multilabel" and torch.isnan(dm.targets("train")).any()


# --------------------------------------------------------------------------- regression
def test_regression_targets_are_standardized_inside_and_reported_in_their_units():
    task = make_task("regression")
    y = torch.tensor([1e6, 2e6, 3e6, 4e6])
    task.fit(y)
    out = torch.zeros(4, 1)  # an untrained net: predicts the train mean
    assert torch.allclose(task.predict(out), torch.full((4,), 2.5e6))
    assert math.isclose(float(task.loss(out, y)), 1.0, rel_tol=1e-5)  # the variance, in standardized units: 1
    assert math.isclose(task.prior_loss(y), 1.0, rel_tol=1e-5)


# --------------------------------------------------------------------------- class imbalance
def test_class_weights_come_from_train_frequencies_binary_as_pos_weight():
    y = torch.tensor([0] * 90 + [1] * 10)
    multi = make_task("multiclass", 2, imbalance="class_weights")
    multi.fit(y)
    assert torch.allclose(multi.class_weights, torch.tensor([100 / (2 * 90), 100 / (2 * 10)]))
    out = torch.randn(100, 2)
    weighted = F.cross_entropy(out, y, weight=multi.class_weights)
    assert torch.allclose(multi.loss(out, y), weighted) and not torch.allclose(weighted, F.cross_entropy(out, y))
    binary = make_task("binary", 2, imbalance="class_weights")
    binary.fit(y)
    logit = torch.randn(100)
    expected = F.binary_cross_entropy_with_logits(logit, y.float(), pos_weight=torch.tensor(9.0))
    assert torch.allclose(binary.loss(logit, y), expected)
    plain = make_task("binary", 2)
    plain.fit(y)
    assert torch.allclose(plain.loss(logit, y), F.binary_cross_entropy_with_logits(logit, y.float()))


def test_the_balanced_sampler_draws_classes_evenly_the_same_way_each_epoch():
    def epoch_counts(imbalance, epoch):
        dm = FourSplitDataModule(skewed_digits, imbalance=imbalance, shuffle_seed=3)
        dm.setup()
        loader = dm.loader("train", shuffle=True)
        loader.epoch_fn = lambda: epoch
        labels = torch.cat([y for _, y, _ in loader])
        return labels, torch.bincount(labels, minlength=10).float() / len(labels)

    skewed = epoch_counts("none", 0)[1]
    assert skewed[8] < 0.02 and skewed[9] < 0.02
    labels, balanced = epoch_counts("balanced_sampler", 0)
    assert ((balanced > 0.06) & (balanced < 0.14)).all(), balanced  # 1/10 each, within sampling noise
    again, _ = epoch_counts("balanced_sampler", 0)
    other, _ = epoch_counts("balanced_sampler", 1)
    assert torch.equal(labels, again) and not torch.equal(labels, other)  # seeded by (seed, epoch): resumable
    dm = FourSplitDataModule(skewed_digits, imbalance="balanced_sampler")
    dm.setup()
    assert torch.bincount(torch.cat([y for _, y, _ in dm.loader("dev")]), minlength=10)[8] < 5  # eval splits untouched


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data=diabetes", "objective.metric=mae", "objective.mode=min", "imbalance=class_weights"], "needs classes"),
        (
            ["data=diabetes", "objective.metric=mae", "objective.mode=min", "imbalance=balanced_sampler"],
            "balanced_sampler",
        ),
        (["data=digits_multilabel", "imbalance=balanced_sampler"], "imbalance=class_weights"),
        (["imbalance=sometimes"], "imbalance='sometimes' is not known"),
    ],
)
def test_a_remedy_that_cannot_apply_is_a_one_line_error(make_cfg, overrides, message):
    cfg = make_cfg(*overrides)
    with pytest.raises(ConfigError, match=message):
        dm = build_datamodule(cfg)
        build_model(cfg, dm.spec)


def test_the_class_balance_check_names_the_switches(make_cfg):
    cfg = make_cfg(f"data.source._target_={HERE}.skewed_digits")
    r = {r.id: r for r in run_checks(cfg, ids=["data.class_balance"])}["data.class_balance"]
    assert r.status == "warn" and "imbalance=class_weights" in r.remedy and "imbalance=balanced_sampler" in r.remedy
    on = make_cfg(
        f"data.source._target_={HERE}.skewed_digits", "imbalance=class_weights", "objective.metric=balanced_accuracy"
    )
    r = {r.id: r for r in run_checks(on, ids=["data.class_balance"])}["data.class_balance"]
    assert r.status == "pass" and "imbalance=class_weights is on" in r.message


# --------------------------------------------------------------------------- the output layer, by data flow
class HeadFirst(nn.Module):
    """Registers its output layer before its body: registration order says nothing."""

    def __init__(self, input_shape, num_outputs: int):
        super().__init__()
        self.head = nn.Linear(32, num_outputs)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 32), nn.ReLU())

    def forward(self, x):
        return self.head(self.body(x))


def test_a_head_first_net_gets_its_real_output_layer(make_cfg, tmp_path):
    cfg = make_cfg(
        f"model.net._target_={HERE}.HeadFirst",
        "~model.net.hidden",
        "~model.net.activation",
        "~model.net.dropout",
        "~model.net.batch_norm",
        "model.output_bias_from_prior=true",
    )
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm.spec)
    x = dm.sample("train", 4)[0]
    assert output_layer(model.net, x)[0] == "head"
    model.prepare(dm)
    prior = torch.bincount(dm.targets("train"), minlength=10).float() / dm.size("train")
    assert torch.allclose(model.net.head.bias, prior.log(), atol=1e-5)  # the prior on the head, not on a hidden layer
    assert (
        model.net.head.weight.std() < 0.5 * model.net.body[1].weight.std()
    )  # the head starts small, the body does not
    results = run_checks(cfg, ids=["model.output_matches_task", "model.initial_loss"], datamodule=dm)
    assert [(r.status, r.message) for r in results if r.status != "pass"] == []  # no "ends in a ReLU" warning
