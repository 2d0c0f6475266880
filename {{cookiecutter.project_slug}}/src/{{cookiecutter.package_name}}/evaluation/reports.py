"""The end-of-run report: scores, the diagnosis table, diagnosis.json, learning curves, error
analysis and the data-quality sections, written into a run folder (and to the loggers)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..common import ConfigError
from ..tasks import Task
from .diagnosis import degradation_epoch, diagnose, format_table
from .objective import Objective
from .scoring import evaluate_splits


def learning_curves_figure(history: list[dict], metric: str, selected_epoch: int | None = None):
    """Train vs train_dev vs dev loss and metric per epoch; overfitting onset marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"train": ("tab:blue", "-"), "train_dev": ("tab:orange", "--"), "dev": ("tab:red", "-")}
    onset = degradation_epoch(history)
    for ax, name in zip(axes, ("loss", metric)):
        for split, (color, ls) in styles.items():
            pts = [(h["epoch"], h[f"{split}/{name}"]) for h in history if f"{split}/{name}" in h]
            if pts:
                ax.plot(*zip(*pts), color=color, ls=ls, marker="o", ms=3, label=split)
        if onset is not None:
            ax.axvline(onset, color="black", ls=":", lw=1.5, label=f"dev loss starts rising (epoch {onset})")
        if selected_epoch is not None:
            ax.axvline(
                selected_epoch,
                color="tab:green",
                ls="-.",
                lw=1.5,
                label=f"selected checkpoint (epoch {selected_epoch})",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(name.replace("_", " "))
        ax.set_title(f"{name.replace('_', ' ')} per epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Learning curves: the train-to-train_dev gap is variance, train_dev-to-dev is data mismatch")
    fig.tight_layout()
    return fig


def report(
    models,
    datamodule,
    task: Task,
    objective: Objective,
    out_dir: Path,
    loggers=(),
    history=None,
    selected_epoch=None,
    splits=("train", "train_dev", "dev"),
    error_analysis: bool = True,
    worst_k: int = 24,
    json_name: str = "diagnosis.json",
    static: dict | None = None,
    scored=None,
    data_quality: dict | None = None,
) -> dict:
    """Scores, diagnosis table, diagnosis.json, learning curves and error analysis into out_dir.
    `data_quality` (Analysis.quality): label issues, mismatch evidence, embedding near-duplicates too."""
    from .analysis import error_analysis as run_error_analysis
    from .analysis import save_figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # `scored`: (scores, predictions) already computed for these splits (the final scoring of train.py)
    scores, predictions = scored if scored is not None else evaluate_splits(models, datamodule, task, objective, splits)
    result = diagnosis_of(scores, splits, datamodule, task, objective, static, data_quality)
    if history:
        result["learning_curves"] = str(
            save_figure(
                learning_curves_figure(history, objective.metric, selected_epoch),
                out_dir / "learning_curves.png",
                loggers,
                "diagnosis/learning_curves",
            )
        )
        result["dev_degrades_after_epoch"] = degradation_epoch(history)
    suspects = (
        quality_report(data_quality, models, datamodule, task, predictions, result, out_dir, loggers, worst_k)
        if data_quality
        else None
    )
    if error_analysis:
        result["error_analysis"] = run_error_analysis(
            predictions["dev"], datamodule, task, out_dir, loggers, split="dev", worst_k=worst_k, suspects=suspects
        )
    (out_dir / json_name).write_text(json.dumps(result, indent=2))
    print(f"diagnosis   {out_dir / json_name}")
    return result


def diagnosis_of(scores: dict, splits, datamodule, task: Task, objective: Objective, static, data_quality) -> dict:
    """Bias / variance / mismatch of these scores beside the reference and the error floor, the
    distance to the target and the satisficing constraints; printed as the diagnosis table."""
    from .constraints import check_constraints

    bounded = objective.class_costs is not None or objective.higher_is_better
    error_name = (
        "weighted error"
        if objective.class_costs is not None and task.takes_class_costs
        else (f"1 - {objective.metric}" if objective.higher_is_better else objective.metric)
    )
    levels = reference_levels(data_quality, datamodule, task, objective, scores, error_name)
    result = diagnose(
        {s: scores[s]["error"] for s in splits}, objective.human_error, {s: scores[s]["n"] for s in splits}, bounded,
        **levels,
    )  # fmt: skip
    result["error_measure"] = error_name
    result["scores"] = scores
    result["objective"] = {"metric": objective.metric, "target": objective.target}
    target_line = objective.target_report(scores.get("dev", {}).get(objective.metric))
    if target_line:
        result["target"] = target_line
    if objective.constraints:
        values = {**(static or {}), **{f"{s}/{k}": v for s, sc in scores.items() for k, v in sc.items()}}
        result["constraints"] = check_constraints(objective.constraints, values)
        result["feasible"] = all(r["ok"] for r in result["constraints"])
    print(format_table(result, error_name, target_line))
    if "reference" in result:
        ref = result["reference"]
        sampled = "; ".join(f"{s} sampled to {k} rows" for s, k in ref["sampled"].items())
        print(
            f"  reference: {ref['model']} (scikit-learn's {ref['estimator']}) fitted on train in {ref['seconds']:.1f} s"
            + (f" ({sampled}: analysis.reference_examples)" if sampled else "")
            + ("; stopped at analysis.reference_seconds, so it may reach lower" if ref.get("cut_short") else "")
        )
    for row in result.get("constraints", []):
        shown = "not measured" if row["value"] is None else f"{row['value']:.4g}"
        print(f"  constraint {row['constraint']:<22} {shown:>12}  {'ok' if row['ok'] else 'VIOLATED'}")
    return result


def reference_levels(opts, datamodule, task: Task, objective: Objective, scores: dict, error_name: str) -> dict:
    """diagnose()'s reference, floor and baseline: a classical model fitted on train and scored like
    the net (evaluation/reference.py), the share of train no model can get right, the input-ignoring prediction.
    Only with `opts` (Analysis.quality: a training run or diagnose.py), never on test."""
    from .reference import error_floor, fit_reference
    from .scoring import baseline_scores

    if not opts or "dev" not in scores:
        return {}
    levels: dict = {}
    if opts.get("reference", True):
        try:
            fitted = fit_reference(
                datamodule,
                task,
                objective,
                opts.get("reference_examples", 20000),
                opts.get("seed", 0),
                opts.get("reference_seconds", 20.0),
            )
        except (ValueError, MemoryError) as e:  # scikit-learn refusing this data: the run's report still comes
            fitted = {"skipped": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
        if "scores" in fitted:
            levels["reference"] = {
                **{k: v for k, v in fitted.items() if k != "scores"},
                "errors": {s: sc["error"] for s, sc in fitted["scores"].items()},
                "scores": {s: sc.get(objective.metric) for s, sc in fitted["scores"].items()},
                "net_scores": {s: sc.get(objective.metric) for s, sc in scores.items()},
                "metric": objective.metric,
            }
        else:
            print(f"\nReference level: not measured ({fitted['skipped']})")
    floor = error_floor(datamodule, task, 10 * opts.get("reference_examples", 20000)) if task.single_label else None
    if floor is not None and error_name == "1 - accuracy":  # the floor counts wrong examples: accuracy's error
        levels["floor"] = floor["error_floor"]
    baseline = baseline_scores(task, datamodule, objective, ("dev",))["dev"]
    levels["baseline"] = {
        "errors": {"dev": baseline["error"]},
        "line": _baseline_line(task, datamodule, objective, scores, baseline),
    }
    return levels


def _baseline_line(task: Task, datamodule, objective: Objective, scores: dict, baseline: dict) -> str:
    """What a net no better than a constant is told first: in plain words, with a metric an imbalance
    cannot fool where one class dominates (M1, M25)."""
    net, dumb = (
        f"{v:.4f}" if v is not None else "n/a"
        for v in (scores["dev"].get(objective.metric), baseline.get(objective.metric))
    )
    line = (
        f"The net is no better than the dumb baseline on dev: {objective.metric} {net}, and "
        f"{task.describe_constant(True)} (ignoring the input) scores {dumb}. It has learned nothing from the "
        "inputs that a constant answer does not give; the gaps below explain little until it does."
    )
    counts = task.class_counts(datamodule.targets("train")) if task.single_label else None
    if counts is not None and float(counts.max()) >= 0.7 * float(counts.sum()) and objective.metric == "accuracy":
        line += (
            f" One class holds {float(counts.max()) / float(counts.sum()):.0%} of train: accuracy rewards always "
            "answering it. Optimize a metric an imbalance cannot fool: objective.metric=balanced_accuracy (or f1), "
            "with imbalance=class_weights."
        )
    return line


@dataclass(frozen=True)
class Analysis:
    """What the end of a run (and diagnose.py) analyses: configs/train.yaml's `analysis` block,
    checked once (a bad value is a one-line ConfigError before training, not after it)."""

    error_analysis: bool = True
    worst_k: int = 24
    quality: dict = field(default_factory=dict)  # the data-quality keys, as quality_report reads them

    @classmethod
    def from_dict(cls, a: dict, near_duplicate_ratio: float = 0.1, seed: int = 0) -> Analysis:
        """From the analysis block as plain values (build.analysis_of gives it so)."""
        mismatch = str(a.get("mismatch_evidence", "auto")).lower()
        if mismatch not in ("auto", "true", "false"):
            raise ConfigError(
                f"analysis.mismatch_evidence={a.get('mismatch_evidence')!r} is not known; use auto (when data "
                "mismatch is the largest gap), true (always) or false"
            )
        for key in ("error_analysis", "label_issues", "near_duplicates", "reference"):
            if not isinstance(a.get(key, True), bool):
                raise ConfigError(f"analysis.{key}={a.get(key)!r} must be true or false")
        worst_k = a.get("worst_k", 24)
        if isinstance(worst_k, bool) or not isinstance(worst_k, int) or worst_k < 1:
            raise ConfigError(f"analysis.worst_k={worst_k!r} must be a whole number >= 1 (mistakes the picture shows)")
        n = a.get("quality_examples", 10000)
        if not isinstance(n, int) or n < 50:
            raise ConfigError(
                f"analysis.quality_examples={n!r} must be a whole number >= 50 (examples per split; a sample beyond)"
            )
        ref_n = a.get("reference_examples", 20000)
        if not isinstance(ref_n, int) or ref_n < 50:
            raise ConfigError(
                f"analysis.reference_examples={ref_n!r} must be a whole number >= 50 (train rows the reference fits on)"
            )
        seconds = a.get("reference_seconds", 20)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ConfigError(f"analysis.reference_seconds={seconds!r} must be a positive number of seconds")
        quality = {
            "reference": a.get("reference", True),
            "reference_examples": ref_n,
            "reference_seconds": float(seconds),
            "label_issues": a.get("label_issues", True),
            "mismatch_evidence": mismatch,
            "near_duplicates": a.get("near_duplicates", True),
            "max_examples": n,
            "ratio": float(near_duplicate_ratio),
            "seed": int(seed),
        }
        return cls(error_analysis=a.get("error_analysis", True), worst_k=worst_k, quality=quality)


def quality_report(
    opts: dict,
    models,
    datamodule,
    task: Task,
    predictions: dict,
    result: dict,
    out_dir: Path,
    loggers=(),
    worst_k: int = 24,
) -> dict | None:
    """Label issues, train-vs-dev evidence and embedding near-duplicates (evaluation/quality.py): into
    `result`, a short paragraph each. Returns the dev suspects (index -> suggested class id)."""
    suspects = None
    if opts["label_issues"]:
        suspects = label_issues_section(opts, datamodule, task, predictions, result, out_dir, loggers, worst_k)
    wanted = opts["mismatch_evidence"]
    if wanted == "true" or (wanted == "auto" and result.get("largest_gap") == "data_mismatch"):
        mismatch_section(opts, datamodule, result, out_dir, loggers)
    if opts["near_duplicates"]:
        embedding_section(opts, models[0] if isinstance(models, (list, tuple)) else models, datamodule, result, out_dir)
    return suspects


def label_issues_section(opts, datamodule, task, predictions, result, out_dir, loggers, worst_k) -> dict | None:
    from . import quality
    from .analysis import write_label_issues

    if not task.single_label:
        why = (
            "a real-valued target has no class that could be wrong"
            if not task.classes
            else "several labels per example, some missing"
        )
        result["label_issues"] = {"skipped": f"{task.kind}: {why}"}
        print(f"\nLabel issues: not looked for ({task.kind}: {why}); the largest errors are in worst_mistakes.csv")
        return None
    skipped: dict = {}
    found = quality.find_label_issues(datamodule, predictions, task, opts["max_examples"], opts["seed"], skipped)
    why = "; ".join(f"{s}: {w}" for s, w in skipped.items())
    if not found:  # tiny or one-class splits: a reason, not cleanlab's ValueError
        result["label_issues"] = {"skipped": why}
        print(f"\nLabel issues: not looked for ({why})")
        return None
    files = write_label_issues(found, datamodule, out_dir, loggers, worst_k)
    counts = {
        s: {
            "suspects": len(f["index"]),
            "of": f["n"],
            "from": f["method"],
            "expected_from_uncertainty": f["expected"],
            "model_error_elsewhere": f["residual_error"],
            "median_label_probability": f["median_label_probability"],
            "verdict": "likely mislabeled" if f["judged"] else "hard or possibly mislabeled",
        }
        for s, f in found.items()
    }
    result["label_issues"] = {"counts": counts, **files, **({"skipped_splits": skipped} if skipped else {})}
    print(f"\nLabel issues (cleanlab on out-of-sample probabilities) -> {files.get('png', files['csv'])}")
    for s, c in counts.items():
        judged = c["verdict"] == "likely mislabeled"
        print(
            f"  {s:<9} {c['suspects']} of {c['of']} {'look mislabeled' if judged else 'are hard or possibly mislabeled'}"
            f" (its uncertainty alone would flag ~{c['expected_from_uncertainty']:g}; the model errs on "
            f"{c['model_error_elsewhere']:.1%} of the others and gives the flagged labels a median probability of "
            f"{c['median_label_probability']:.2f})"
            + ("" if judged else ": the model behind the flags is not good enough to call them label errors")
        )
    if why:
        print(f"  Not looked for in {why}")
    if any(c["suspects"] for c in counts.values()):
        print(
            "  Remedy: look at them (label_issues.csv, suspect_label in worst_mistakes.csv); relabel the wrong ones in "
            "your data, or drop them and retrain. Train's come from a cross-validated linear model, dev's from yours."
        )
    if result.get("largest_gap") == "data_mismatch":
        result["label_issues"]["caution"] = "dev differs from train: the model errs there for other reasons than labels"
        print(
            "  Caution: with data mismatch the model is wrong on dev for other reasons than its labels, so dev's "
            "count overstates them; train's and train_dev's stay meaningful."
        )
    dev = found.get("dev")
    return {} if dev is None else dict(zip(dev["index"].tolist(), dev["suggested"].tolist()))


def mismatch_section(opts, datamodule, result, out_dir, loggers) -> None:
    from . import quality
    from .analysis import is_image, mismatch_figure, save_figure

    if min(datamodule.size("train"), datamodule.size("dev")) < 20:
        result["mismatch_evidence"] = {
            "skipped": f"{datamodule.size('dev')} dev examples: too few to tell train from dev"
        }
        print(f"\nData mismatch evidence: not measured ({result['mismatch_evidence']['skipped']})")
        return
    evidence = quality.mismatch_evidence(datamodule, opts["max_examples"], opts["seed"])
    image = is_image(tuple(datamodule.spec.input_shape))
    if image:
        evidence["png"] = str(
            save_figure(
                mismatch_figure(evidence, datamodule),
                out_dir / "mismatch_evidence.png",
                loggers,
                "diagnosis/mismatch_evidence",
            )
        )
    keep = ("auc", "ci", "verdict", "n_train", "n_dev", "held_out", "top_features", "png")
    result["mismatch_evidence"] = {k: evidence[k] for k in keep if k in evidence}
    (low, high), verdict = evidence["ci"], evidence["verdict"]
    print(
        f"\nData mismatch evidence: a classifier tells dev inputs from train inputs with AUC {evidence['auc']:.3f} "
        f"(95% CI {low:.3f}-{high:.3f}; 0.5 = indistinguishable): {verdict}."
    )
    if verdict == "no detectable shift":
        print(
            "  Train and dev inputs look alike: a dev error above train_dev's then lies in the labels (see the label "
            "issues) or in chance, not in the inputs."
        )
        return
    if verdict == "slight shift":
        print(f"  Weakly separable: a small shift or, with {evidence['n_dev']} dev examples, the luck of the draw.")
    if image:
        print(f"  Where they differ: {evidence['png']} (mean images, and how differently each pixel is distributed)")
    else:
        print(
            "  Features distributed most differently (KS statistic; dev mean - train mean in train std): "
            + ", ".join(
                f"{f['feature']} ({f['drift']:.2f}; {f['dev_minus_train']:+.2f})" for f in evidence["top_features"]
            )
        )


def embedding_section(opts, model, datamodule, result, out_dir) -> None:
    """Near-duplicates once more, where the net looks: its penultimate layer (quiet when none)."""
    from . import quality
    from .analysis import write_csv

    n, seed = opts["max_examples"], opts["seed"]
    reference = quality.embedded_sample(model, datamodule, "train", n, seed)
    if reference is None:  # a net without a Linear/Conv output layer: nothing to hook
        return
    queries = {s: quality.embedded_sample(model, datamodule, s, n, seed) for s in quality.QUERY_SPLITS}
    empty = [s for s, q in queries.items() if q is None]
    if empty or len(reference[0]) < 2:  # an empty split (tiny data): nothing to compare
        result["near_duplicates_embedding"] = {"skipped": f"too few examples in {empty or ['train']}"}
        return
    found = quality.near_duplicates(reference[0], {s: q[0] for s, q in queries.items()}, ratio=opts["ratio"], seed=seed)
    counts = {s: int(f.flagged.sum()) for s, f in found.items()}
    closest = min((float(f.ratio.min()) for f in found.values() if len(f.distance)), default=float("inf"))
    entry = result["near_duplicates_embedding"] = {
        "counts": counts,
        "closest": round(closest, 4),
        "ratio": opts["ratio"],
    }
    if sum(counts.values()):
        rows = quality.pair_rows(datamodule, reference, queries, found)
        entry["csv"] = str(write_csv(out_dir / "near_duplicates_embedding.csv", rows))
        print(
            f"\nNear-duplicates in the net's penultimate layer: {counts['dev']} dev, {counts['train_dev']} train_dev examples "
            f"within {opts['ratio']:g}x the typical train distance of a train example -> {entry['csv']}: if they are "
            "the same items, dev scores overstate new data"
        )
