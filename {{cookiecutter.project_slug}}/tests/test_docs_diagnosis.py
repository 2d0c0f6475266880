"""diagnosis.md's, test-vault.md's, predict.md's and checks.md's commands, run as the pages show them
(the rule for what runs and how: tests/docs_pages.py)."""

from __future__ import annotations

import pytest
from docs_pages import check_pages, newest_run, printed, project_fixture

pytestmark = pytest.mark.slow


project = project_fixture()


def overfit_table(results, project):
    return printed(results[-1].out, [
        "  human error       0.0100", "  train error       0.0000", "  variance          +0.0974  <- largest",
    ])  # fmt: skip


def largest(gap):
    def check(results, project):
        rows = [line for line in results[-1].out.splitlines() if line.startswith(f"  {gap} ")]
        return [] if rows and "<- largest" in rows[-1] else [f"{gap} is not marked the largest gap: {rows}"]

    return check


def diagnose_writes(results, project):
    written = list((project / "docs-out").glob("dir-*/diagnosis.json"))  # out_dir=DIR
    return [] if written else ["no DIR/diagnosis.json"]


def plain_human_error(results, project):
    return printed(results[-1].out, ["human error       unknown (objective.human_error); proxy "])


def extrapolation_warning(results, project):
    return printed(
        results[-1].out, ["warning: 1 of 6 inputs lie outside the training range in at least one feature (row 0"]
    )


def ledger(results, project):
    problems = [] if (project / "test_ledger.jsonl").is_file() else ["no test_ledger.jsonl in the project"]
    reports = list((newest_run(project) / "final_evaluation").glob("final_report_*.json"))
    return problems + ([] if reports else ["no <run dir>/final_evaluation/final_report_<n>.json"])


def predictions_beside_input(results, project):
    return [] if (project / "new.npy.predictions.csv").is_file() else ["no new.npy.predictions.csv beside new.npy"]


def mismatch(results, project):
    evidence = "Data mismatch evidence: a classifier tells dev inputs from train inputs with AUC"  # data.md shows it
    return largest("data mismatch")(results, project) + printed(results[-1].out, [evidence])


def check_table(results, project):
    return printed(results[-1].out, ["check ", "status", "data.finite ", "model.gradient "])


EXPECT = {
    "python train.py +experiment=overfit": overfit_table,
    "python train.py +experiment=underfit": largest("avoidable bias"),
    "python train.py +experiment=data_mismatch": mismatch,
    "python diagnose.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt [out_dir=DIR] [worst_k=24]": diagnose_writes,
    "python train.py seed=1": plain_human_error,
    "python evaluate.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt": ledger,
    "python check.py": check_table,
    "python check.py checks.only=[model.eval_deterministic]": lambda results, project: printed(
        results[-1].out, ["model.eval_deterministic  pass", "ok: 1 pass"]
    ),
    "python predict.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt input=new.npy": predictions_beside_input,
    "python predict.py ckpt_path=<table run>/checkpoints/best.ckpt input=new_rows.csv": extrapolation_warning,
}
# What the page shows is a full run's: the shipped experiments with their own epochs.
FULL = {"python train.py +experiment=overfit", "python train.py +experiment=underfit",
        "python train.py +experiment=data_mismatch"}  # fmt: skip


def test_diagnosis_vault_predict_and_checks_commands_run_as_shown(project):
    check_pages(["docs/diagnosis.md", "docs/test-vault.md", "docs/predict.md", "docs/checks.md"], project, EXPECT, FULL)
