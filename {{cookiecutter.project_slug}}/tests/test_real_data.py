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
    from {{cookiecutter.package_name}}.training import train

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
