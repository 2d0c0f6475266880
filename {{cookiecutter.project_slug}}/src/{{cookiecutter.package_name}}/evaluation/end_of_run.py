"""The end of a run, and diagnose.py: why there may be no best checkpoint, and the report of the
selected checkpoint after training or of any checkpoint later (the history it plots comes from
training/callbacks/run_recorder.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .objective import Objective
from .reports import Analysis, report


def no_best_reason(objective: Objective, summary: dict, trainer) -> str | None:
    """Why there is no best checkpoint, when satisficing constraints ruled every epoch out; else None.

    Meant to be printed before the scores it explains (they are the last epoch's), in place of
    'checkpoint None'. Stored in summary.json as `no_best_reason`."""
    if not objective.constraints or trainer.checkpoint_callback is None or summary.get("best_checkpoint"):
        return None
    return (
        "no checkpoint satisfied every satisficing constraint (objective.satisficing), so none is 'best': "
        "the scores and the diagnosis are those of the last epoch's weights"
    )


def after_training(
    out_dir: Path, objective: Objective, analysis: Analysis, summary: dict, model, datamodule, trainer, scored=None
) -> dict:
    """Called by training/fit.py with the selected checkpoint's weights loaded in `model`."""
    checkpoint = trainer.checkpoint_callback
    static = getattr(checkpoint, "static", None)
    history_path = Path(out_dir) / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else None
    selected = None
    if summary.get("best_checkpoint"):
        selected = int(torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)["epoch"])
    reason = no_best_reason(objective, summary, trainer)
    if reason and summary.get("no_best_reason") != reason:  # not yet printed with the scores (training.print_summary)
        print(f"\nNote: {reason}; the constraints table below shows which one failed.")
    if reason:
        summary["no_best_reason"] = reason
    result = report(
        model,
        datamodule,
        model.task,
        objective,
        Path(out_dir),
        trainer.loggers,
        history,
        selected,
        error_analysis=analysis.error_analysis,
        worst_k=analysis.worst_k,
        static=static,
        scored=scored,
        data_quality=analysis.quality,
    )
    summary.update(summary_of(result, objective, summary, static))
    summary["test_split_reads"] = datamodule.test_reads
    from .report_page import try_write, write_run_page

    # summary is complete here: training/fit.py writes the same dict to summary.json next
    try_write(write_run_page, out_dir, result, summary, loggers=trainer.loggers)
    return summary


def summary_of(result: dict, objective: Objective, summary: dict, static: dict | None) -> dict:
    """What summary.json keeps of the report: the diagnosis in brief, feasibility, the target,
    the measured static values (what sweeps compare) and the constraints."""
    out: dict = {}
    out["diagnosis"] = {
        k: result[k] for k in ("below_baseline", "largest_gap", "gaps", "recommendation") if k in result
    }
    out["diagnosis"]["bayes_proxy"] = result["bayes_proxy"]
    if "reference" in result:  # the classical model beside the net: its dev score and what it cost
        ref = result["reference"]
        out["diagnosis"]["reference"] = {
            "model": ref["model"],
            "dev": ref["scores"].get("dev"),
            "seconds": ref["seconds"],
        }
    if "counts" in result.get("label_issues", {}):
        out["diagnosis"]["label_issues"] = {s: c["suspects"] for s, c in result["label_issues"]["counts"].items()}
    if "verdict" in result.get("mismatch_evidence", {}):
        out["diagnosis"]["mismatch_evidence"] = {k: result["mismatch_evidence"][k] for k in ("verdict", "auc", "ci")}
    out["feasible"] = bool(result.get("feasible", True)) and (
        not objective.constraints or bool(summary.get("best_checkpoint"))
    )
    if "target" in result:
        out["target"] = result["target"]
    if static:
        out["measured"] = static  # params, size_mb (latency_ms when constrained): what sweeps compare
    if "constraints" in result:
        out["constraints"] = result["constraints"]
    return out


def page_after_failed_checks(out_dir: Path) -> None:
    """A run the checks stopped still gets its page: the failed check on top, what to fix."""
    from .report_page import try_write, write_run_page

    try_write(write_run_page, out_dir, None, kind="stopped")


def diagnose_checkpoint(ckpt_path: str, out_dir: str | None = None, worst_k: int = 24) -> dict:
    """diagnose.py: the end-of-training report for any checkpoint, without training (and without test)."""
    from ..build import load_run
    from ..common import ConfigError
    from .objective import measure_static

    if not ckpt_path:
        raise ConfigError(
            "ckpt_path is missing; python diagnose.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt"
        )
    run = load_run(ckpt_path)
    run_dir, model, datamodule, checkpoint, objective = (
        run.run_dir,
        run.model,
        run.datamodule,
        run.checkpoint,
        run.objective,
    )
    out = Path(out_dir) if out_dir else run_dir / f"diagnose-{Path(ckpt_path).stem}"
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else None
    static = measure_static(model, datamodule.sample("train", 1)[0]) if objective.constraints else None
    print(f"Diagnosing {ckpt_path} (epoch {checkpoint.get('epoch')})")
    result = report(
        model,
        datamodule,
        model.task,
        objective,
        out,
        history=history,
        selected_epoch=checkpoint.get("epoch"),
        worst_k=worst_k,
        static=static,
        data_quality=run.analysis.quality,
    )
    result["test_split_reads"] = datamodule.test_reads
    from .report_page import try_write, write_run_page

    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    summary = {k: summary[k] for k in ("baseline", "measured") if k in summary}  # the baseline is the checkpoint's too
    try_write(write_run_page, out, result, summary, run_dir=run_dir, kind="diagnose")
    return result
