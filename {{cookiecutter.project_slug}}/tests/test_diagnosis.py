"""The diagnosis (M31, M32) and the goals it reports against (M1-M3)."""

from __future__ import annotations

import json

import pytest
import torch

from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.evaluation.constraints import Constraint, parse_constraints
from {{cookiecutter.package_name}}.evaluation.diagnosis import degradation_epoch, diagnose
from {{cookiecutter.package_name}}.evaluation.objective import Objective
from {{cookiecutter.package_name}}.tasks.classes import WeightedError
from {{cookiecutter.package_name}}.training.fit import train


# ------------------------------------------------------------------ the three shipped experiments
@pytest.mark.parametrize(
    "experiment, expected",
    [("underfit", "avoidable_bias"), ("overfit", "variance"), ("data_mismatch", "data_mismatch")],
)
@pytest.mark.slow
def test_shipped_experiment_gets_its_diagnosis(make_cfg, tmp_path, experiment, expected):
    cfg = make_cfg(f"+experiment={experiment}", "analysis.error_analysis=false", "checks.before_train=false")
    summary = train(cfg)

    report = json.loads((tmp_path / "diagnosis.json").read_text())
    assert report["largest_gap"] == expected == summary["diagnosis"]["largest_gap"]
    gaps, noise = report["gaps"], report["gap_noise"]
    assert set(gaps) == {"avoidable_bias", "variance", "data_mismatch"}  # test is sealed: no dev overfitting
    assert gaps[expected] > noise[expected], "the diagnosis must not rest on noise"
    assert gaps[expected] == max(gaps.values())
    assert report["conclusive"] is True
    errors = report["errors"]
    assert errors["human"] == pytest.approx(0.01)
    assert gaps["variance"] == pytest.approx(errors["train_dev"] - errors["train"])
    assert gaps["data_mismatch"] == pytest.approx(errors["dev"] - errors["train_dev"])
    assert gaps["avoidable_bias"] == pytest.approx(errors["train"] - 0.01)
    assert (
        report["recommendation"]
        .lower()
        .startswith(
            {
                "avoidable_bias": "reduce avoidable bias",
                "variance": "reduce variance",
                "data_mismatch": "address data mismatch",
            }[expected]
        )
    )
    # errors agree with the scores train.py reports for the selected checkpoint
    for split in ("train", "train_dev", "dev"):
        assert errors[split] == pytest.approx(1 - summary["scores"][split], abs=1e-5)
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    assert summary["test_split_reads"] == 0
    # digits are images: the reference beside the net is a linear model on the standardized pixels
    reference = report["reference"]
    assert reference["model"].startswith("an L2-regularized linear model")
    assert set(reference["errors"]) == {"train", "train_dev", "dev"}
    assert summary["diagnosis"]["reference"]["dev"] == pytest.approx(reference["scores"]["dev"])


# ------------------------------------------------------------------ the diagnosis itself
@pytest.mark.parametrize(
    "errors, expected",
    [
        ({"train": 0.15, "train_dev": 0.16, "dev": 0.17}, "avoidable_bias"),
        ({"train": 0.02, "train_dev": 0.10, "dev": 0.11}, "variance"),
        ({"train": 0.02, "train_dev": 0.03, "dev": 0.12}, "data_mismatch"),
        ({"train": 0.02, "train_dev": 0.03, "dev": 0.04, "test": 0.10}, "dev_overfitting"),
    ],
)
def test_largest_gap_picks_the_remedy(errors, expected):
    d = diagnose(errors, human_error=0.01)
    assert d["largest_gap"] == expected
    assert ("dev_overfitting" in d["gaps"]) == ("test" in errors)
    words = {
        "avoidable_bias": "bigger model",
        "variance": "more training data",
        "data_mismatch": "synthesize",
        "dev_overfitting": "bigger dev set",
    }
    assert words[expected] in d["recommendation"]


def test_unknown_human_error_is_reported_not_invented():
    d = diagnose({"train": 0.05, "train_dev": 0.06, "dev": 0.06}, human_error=None)
    assert d["errors"]["human"] is None and d["human_error_known"] is False
    assert d["gaps"]["avoidable_bias"] == pytest.approx(0.05)  # an upper bound: human error taken as 0


def test_gap_within_noise_is_flagged_inconclusive():
    small = diagnose(
        {"train": 0.10, "train_dev": 0.12, "dev": 0.12}, 0.09, n={"train": 1000, "train_dev": 50, "dev": 50}
    )
    assert small["largest_gap"] == "variance" and small["conclusive"] is False
    big = diagnose(
        {"train": 0.10, "train_dev": 0.30, "dev": 0.30}, 0.09, n={"train": 1000, "train_dev": 500, "dev": 500}
    )
    assert big["conclusive"] is True


def test_degradation_epoch_marks_where_dev_loss_turns():
    rising = [{"epoch": e, "dev/loss": v} for e, v in enumerate([1.0, 0.6, 0.4, 0.45, 0.55, 0.7])]
    assert degradation_epoch(rising) == 2
    falling = [{"epoch": e, "dev/loss": v} for e, v in enumerate([1.0, 0.6, 0.4, 0.39, 0.38])]
    assert degradation_epoch(falling) is None


# ------------------------------------------------------------------ goals (M1-M3)
def test_constraint_parsing_and_errors():
    c = Constraint.parse("params <= 1e6")
    assert (c.name, c.op, c.threshold) == ("params", "<=", 1e6)
    assert c.holds(999_999) and not c.holds(2e6) and not c.holds(None)
    assert Constraint.parse("dev/f1>=0.9").holds(0.95)
    assert parse_constraints({"params": "<= 1e6", "dev/f1": ">= 0.9"}) == [c, Constraint("dev/f1", ">=", 0.9)]
    with pytest.raises(ConfigError, match="name op number"):
        Constraint.parse("params is small")
    with pytest.raises(ConfigError, match="not measured"):
        Constraint.parse("flops <= 3")


def test_target_report_says_how_far():
    obj = Objective("accuracy", "max", target=0.98)
    assert "0.03 short" in obj.target_report(0.95)
    assert "target reached" in obj.target_report(0.99)
    assert "target reached" in Objective("mae", "min", target=40.0).target_report(35.0)


def test_weighted_error_costs_one_class_more():
    y = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 0, 1, 0])  # one class-1 example wrong
    even = WeightedError([1, 1])
    even.update(pred, y)
    assert float(even.compute()) == pytest.approx(0.25)
    metric = WeightedError([1, 10])
    metric.update(pred[:2], y[:2])
    metric.update(pred[2:], y[2:])  # accumulates over batches like any torchmetrics metric
    assert float(metric.compute()) == pytest.approx(10 / 22)
    with pytest.raises(ConfigError, match="class_costs"):
        Objective.from_dict({"metric": "accuracy", "mode": "max", "class_costs": [0, 0]})


def test_class_costs_must_match_the_classes(make_cfg):
    from {{cookiecutter.package_name}}.cli import exit_on_config_error
    from {{cookiecutter.package_name}}.training.fit import build

    with pytest.raises(SystemExit) as exit_info, exit_on_config_error():  # before any training
        build(make_cfg("objective.class_costs=[1,10]"))
    assert exit_info.value.code == 2
    build(make_cfg("data=breast_cancer", "objective.class_costs=[1,10]"))


def test_violated_constraint_means_no_best_checkpoint(make_cfg, tmp_path, capsys):
    cfg = make_cfg(
        "trainer.max_epochs=2",
        "checks.before_train=false",
        "analysis.error_analysis=false",
        "objective.satisficing=['params <= 1000','latency_ms <= 1e4']",
    )
    summary = train(cfg)
    assert summary["best_checkpoint"] is None and summary["feasible"] is False
    out = capsys.readouterr().out
    # the explanation says whose scores these are without pointing at scores printed before it as "below"
    assert "scores below are the last epoch's" not in out
    assert "no checkpoint satisfied every satisficing constraint" in out
    assert out.index("no checkpoint satisfied") < out.index("Diagnosis (error")
    assert "last epoch" in summary["no_best_reason"]
    report = json.loads((tmp_path / "diagnosis.json").read_text())
    rows = {r["constraint"]: r for r in report["constraints"]}
    assert rows["params <= 1000"]["ok"] is False and rows["params <= 1000"]["value"] > 1000
    assert rows["latency_ms <= 10000"]["ok"] is True
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["feasible"] is False and saved["constraints"] == report["constraints"]
    assert saved["no_best_reason"] == summary["no_best_reason"]
    assert saved["measured"]["params"] == rows["params <= 1000"]["value"]
    assert not (tmp_path / "checkpoints" / "best.ckpt").exists()


def test_metric_constraint_filters_epochs(make_cfg, tmp_path):
    """Checkpoints are chosen on dev accuracy but only among epochs where train_dev loss <= 0.5."""
    cfg = make_cfg(
        "trainer.max_epochs=4",
        "checks.before_train=false",
        "analysis.error_analysis=false",
        "objective.satisficing=['train_dev/loss <= 0.5']",
    )
    summary = train(cfg)
    history = json.loads((tmp_path / "history.json").read_text())
    feasible = [h for h in history if h["train_dev/loss"] <= 0.5]
    assert feasible and len(feasible) < len(history)  # the first epoch is not
    best = torch.load(summary["best_checkpoint"], weights_only=True)
    chosen = max(feasible, key=lambda h: h["dev/accuracy"])
    assert best["epoch"] == chosen["epoch"]
    assert summary["feasible"] is True


# ------------------------------------------------------------------ the reference level and the floor
REFERENCE = {"model": "gradient-boosted trees (HistGradientBoosting)", "metric": "accuracy"}


def test_without_human_error_the_reference_sets_the_level_and_is_named_where_it_beats_the_net():
    """The mortgage case of issue #24: the net's dev accuracy 0.882, the trees' 0.918."""
    from {{cookiecutter.package_name}}.evaluation.diagnosis import format_table

    errors, n = {"train": 0.10, "train_dev": 0.11, "dev": 0.118}, {"train": 5000, "train_dev": 1000, "dev": 1000}
    ref = {**REFERENCE, "errors": {"train": 0.05, "train_dev": 0.08, "dev": 0.082}, "scores": {"dev": 0.918}}
    d = diagnose(errors, None, n, reference={**ref, "net_scores": {"dev": 0.882}})
    assert d["bayes_proxy"] == {"error": 0.08, "source": "reference"}
    assert d["gaps"]["avoidable_bias"] == pytest.approx(0.02)  # against the trees' held-out error, not 0
    assert "reaches 0.9180 accuracy on dev; yours 0.8820: the net is the bottleneck" in d["recommendation"]
    table = format_table(d, "1 - accuracy")
    assert "reference (gradient-boosted trees" in table and "  dev error         0.1180  0.0820" in table
    assert "taken as 0" not in table


def test_a_net_at_the_floor_is_not_told_to_grow():
    """Identical inputs with conflicting labels (a floor of 0.21): the train error is there already."""
    errors, n = {"train": 0.215, "train_dev": 0.212, "dev": 0.214}, {"train": 660, "train_dev": 94, "dev": 94}
    ref = {**REFERENCE, "errors": {"train": 0.214, "train_dev": 0.19, "dev": 0.24}, "scores": {"dev": 0.76}}
    d = diagnose(errors, None, n, reference={**ref, "net_scores": {"dev": 0.786}}, floor=0.21)
    assert d["bayes_proxy"] == {"error": 0.21, "source": "floor"}  # the reference below the floor is chance
    assert d["error_floor"] == 0.21
    if d["largest_gap"] == "avoidable_bias":
        assert "bigger model" not in d["recommendation"] and "floor" in d["recommendation"]
    forced = diagnose({"train": 0.215, "train_dev": 0.2, "dev": 0.19}, None, n, floor=0.21, reference=ref)
    assert forced["largest_gap"] == "avoidable_bias" and "bigger model" not in forced["recommendation"]
    assert "floor" in forced["recommendation"]


def test_a_net_no_better_than_the_baseline_hears_it_first():
    from {{cookiecutter.package_name}}.evaluation.diagnosis import format_table

    line = "The net is no better than the dumb baseline on dev: accuracy 0.8820, and the class prior scores 0.8930."
    d = diagnose(
        {"train": 0.10, "train_dev": 0.11, "dev": 0.118}, None, baseline={"errors": {"dev": 0.107}, "line": line}
    )
    assert d["below_baseline"] == line
    assert format_table(d, "1 - accuracy").strip().startswith("The net is no better than the dumb baseline")
    nothing = diagnose(
        {"train": 0.63, "train_dev": 0.68, "dev": 0.674},
        None,
        reference={**REFERENCE, "errors": {"dev": 0.683}},
        baseline={"errors": {"dev": 0.672}, "line": line},
    )
    assert "Nor does the reference" in nothing["below_baseline"]  # fair's four coarse columns: nothing to learn
    better = diagnose(
        {"train": 0.10, "train_dev": 0.11, "dev": 0.09}, None, baseline={"errors": {"dev": 0.107}, "line": line}
    )
    assert "below_baseline" not in better


def test_below_the_baseline_on_imbalanced_classes_suggests_a_metric_an_imbalance_cannot_fool():
    """The mortgage case of issue #24: 89% 'no'; the net's dev accuracy under always answering it."""
    from types import SimpleNamespace

    from {{cookiecutter.package_name}}.evaluation.reports import _baseline_line
    from {{cookiecutter.package_name}}.tasks import make_task

    task = make_task("binary", None)
    y = torch.tensor([0] * 893 + [1] * 107)
    data = SimpleNamespace(targets=lambda split: y)
    objective = Objective(metric="accuracy", mode="max")
    line = _baseline_line(task, data, objective, {"dev": {"accuracy": 0.882}}, {"accuracy": 0.893})
    assert line.startswith("The net is no better than the dumb baseline on dev: accuracy 0.8820")
    assert "89% of train" in line and "objective.metric=balanced_accuracy" in line


def test_the_reference_stops_growing_at_its_time_budget():
    """Boosting rounds come 10 at a time while within analysis.reference_seconds: a wide table
    gets a shorter reference, and the report says the budget cut it short."""
    from sklearn.datasets import load_breast_cancer

    from {{cookiecutter.package_name}}.evaluation.reference import CHUNK, _fit, _model
    from {{cookiecutter.package_name}}.tasks import make_task

    x, y = load_breast_cancer(return_X_y=True)
    unbounded, bounded = (_model(make_task("binary", None), True, 0) for _ in range(2))
    assert _fit(unbounded, x, y, budget=60.0) is False
    assert _fit(bounded, x, y, budget=0.0) is (unbounded.n_iter_ > CHUNK)
    assert bounded.n_iter_ == min(CHUNK, unbounded.n_iter_)


def test_a_net_better_than_the_reference_is_its_own_proxy_and_no_negative_gap_leads():
    """statsmodels' grunfeld: the net's train_dev MAE 34.7, the trees' 75.0. The best level a system
    reaches is the net's own, so avoidable bias is measured from it, not from the worse trees (which
    made it -38 and crowned a variance of -2 the largest gap)."""
    errors = {"train": 36.8, "train_dev": 34.7, "dev": 19.5}
    ref = {**REFERENCE, "errors": {"train": 57.7, "train_dev": 75.0, "dev": 41.9}, "scores": {"dev": 41.9}}
    d = diagnose(errors, None, bounded=False, reference=ref)
    assert d["bayes_proxy"] == {"error": 34.7, "source": "net"}
    assert d["largest_gap"] == "avoidable_bias" and d["gaps"]["avoidable_bias"] == pytest.approx(2.1)
    none = diagnose({"train": 30.0, "train_dev": 34.7, "dev": 19.5}, None, bounded=False, reference=ref)
    assert none["gaps"]["avoidable_bias"] < 0 and none["largest_gap"] == "variance"  # an overfit net's gap
    flat = diagnose({"train": 34.7, "train_dev": 34.7, "dev": 30.0}, None, bounded=False, reference=ref)
    assert flat["largest_gap"] is None and flat["recommendation"].startswith("No gap is positive")


def test_a_baseline_right_on_all_of_dev_is_no_bar_the_net_failed_to_clear():
    """vega's la_riots, gender: a dev split of six men. Always answering 'Male' is right on all of
    them, and so is the net: that is no sign it learnt nothing."""
    line = "The net is no better than the dumb baseline on dev: accuracy 1.0000, and the class prior scores 1.0000."
    d = diagnose({"train": 0.11, "train_dev": 0.33, "dev": 0.0}, None, baseline={"errors": {"dev": 0.0}, "line": line})
    assert "below_baseline" not in d
