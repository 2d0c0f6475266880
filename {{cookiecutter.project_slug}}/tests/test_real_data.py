"""The proof on real data (tests/real_data.py): each real table trains with every default but a
short budget, its checks raise no fail and no warning but the real findings the table lists,
and the model beats the dumb baseline (the class shares or mean target, ignoring the input) on dev."""

from __future__ import annotations

import json

import pytest
from conftest import compose_train
from real_data import TABLES

BUDGET = ["trainer.max_epochs=20"]  # the shipped default, said here so the battery's cost is visible


@pytest.fixture(scope="module")
def csv_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("real-tables")


@pytest.mark.slow
@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
def test_a_real_table_trains_with_every_default_and_no_false_alarm(table, csv_folder, tmp_path):
    from {{cookiecutter.package_name}}.training.fit import train

    path = table.write_csv(csv_folder)
    cfg = compose_train(tmp_path, "data=table", f"data.path={path}", f"data.target={table.target}", *BUDGET)
    try:
        summary = train(cfg)
    except SystemExit as e:  # a check failed (exit 1) or the data was refused (exit 2): say which below
        summary = f"train.py would exit {e.code}"

    checks = json.loads((tmp_path / "checks.json").read_text()) if (tmp_path / "checks.json").is_file() else []
    said = {c["id"]: c for c in checks if c["status"] in ("fail", "warn")}
    unexpected = {k: v["message"] for k, v in said.items() if k not in table.expected_warnings}
    assert not unexpected, f"{table.name}: {unexpected}"
    assert all(said[k]["status"] == "warn" for k in said), f"{table.name}: a real finding is a warning, not a fail"

    assert isinstance(summary, dict), f"{table.name}: {summary}"
    dev, baseline = summary["scores"]["dev"], summary["baseline"]["scores"]["dev"]
    better = dev < baseline if cfg.objective.mode == "min" else dev > baseline
    assert better, (
        f"{table.name}: dev {summary['objective']} {dev:.4f} does not beat the dumb baseline's {baseline:.4f}"
    )


@pytest.mark.slow
def test_a_table_whose_identical_rows_conflict_gets_its_floor_and_no_bigger_model(tmp_path, capsys):
    """anes96's vote from two coarse survey answers (self-placement left-right, education): 944
    people, 45 distinct inputs, each shared by ~20 people who voted both ways. The conflicting
    copies put the error floor near 0.21; the net reaches it; "train a bigger model" would be a
    wrong turn, and a third of the rows "mislabeled" a false claim."""
    import statsmodels.datasets.anes96

    from {{cookiecutter.package_name}}.training.fit import train

    path = tmp_path / "anes96.csv"
    statsmodels.datasets.anes96.load_pandas().data.to_csv(path, index=False)
    cfg = compose_train(tmp_path, "data=table", f"data.path={path}", "data.target=vote", "data.features=[selfLR,educ]")
    summary = train(cfg)
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "diagnosis.json").read_text())
    assert 0.15 < report["error_floor"] < 0.3 and report["bayes_proxy"]["error"] >= report["error_floor"]
    assert report["errors"]["train"] < report["error_floor"] + 0.05  # the net is at the floor already
    assert "bigger model" not in report["recommendation"]
    reference = report["reference"]
    assert reference["model"].startswith("gradient-boosted trees") and set(reference["errors"]) == {
        "train",
        "train_dev",
        "dev",
    }
    assert "reference (gradient-boosted trees" in out and "  error floor       0." in out
    assert summary["diagnosis"]["reference"]["seconds"] < 10
    labels = report["label_issues"]["counts"]["train"]
    assert labels["verdict"] == "hard or possibly mislabeled" and "look mislabeled" not in out
    assert labels["expected_from_uncertainty"] > 0.5 * labels["suspects"]  # the model's uncertainty explains them
