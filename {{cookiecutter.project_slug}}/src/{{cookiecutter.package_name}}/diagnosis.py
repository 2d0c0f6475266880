"""Bias / variance / data-mismatch diagnosis (M31) and learning curves (M32).

    human-level --(avoidable bias)--> train --(variance)--> train_dev --(data mismatch)--> dev
                                                                 --(dev overfitting)--> test

Each gap has its own remedy; the largest one says what to do next. All errors are the
optimizing metric turned into an error (1 - accuracy, or MAE itself), or the weighted
error when objective.class_costs is set. The test split is never read here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from .inference import predict
from .objective import Objective, WeightedError
from .tasks import Task

GAPS = {  # gap name: (from split, to split)
    "avoidable_bias": ("human", "train"),
    "variance": ("train", "train_dev"),
    "data_mismatch": ("train_dev", "dev"),
    "dev_overfitting": ("dev", "test"),
}
RECOMMENDATIONS = {
    "avoidable_bias": (
        "Reduce avoidable bias: train a bigger model (more units or layers), train longer, use a better "
        "optimization algorithm (Adam, momentum, a tuned learning rate), try a better architecture, "
        "and lower the regularization."
    ),
    "variance": (
        "Reduce variance: get more training data, add regularization (L2 / weight decay: regularizer=[weight_decay], "
        "dropout: regularizer=[dropout], data augmentation: regularizer=[augment] for images, regularizer=[mixup] or "
        "regularizer.input_noise=0.1 for tables, early stopping), or search for a better architecture / hyperparameters."
    ),
    "data_mismatch": (
        "Address data mismatch: carry out manual error analysis to understand how the training data "
        "differs from dev/test, then make the training data more similar to the target distribution "
        "(collect more data like dev/test, or synthesize it, e.g. artificial data synthesis)."
    ),
    "dev_overfitting": (
        "Dev overfitting: the dev set has been tuned to; get a bigger dev set (and do not tune on test)."
    ),
}


# --------------------------------------------------------------------------- recording
class RunRecorder(Callback):
    """history.json in the run directory: every epoch's metrics, for the learning curves.

    The history travels in the callback's state inside last.ckpt, so a resumed run continues
    exactly the epochs its checkpoint holds. The file is written when training ends, or
    fails, rather than every epoch: rewriting it each epoch cost as much as a small
    model's optimizer steps.
    """

    def __init__(self, output_dir: str):
        self.path = Path(output_dir) / "history.json"
        self.history: list[dict] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        row = {"epoch": trainer.current_epoch}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1})
        self.history = [h for h in self.history if h["epoch"] < trainer.current_epoch] + [row]

    def on_train_end(self, trainer, pl_module) -> None:
        self.write(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.write(trainer)

    def write(self, trainer) -> None:
        if trainer.is_global_zero and self.history:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.history, indent=1))

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))


# --------------------------------------------------------------------------- scores
def split_scores(task: Task, out: torch.Tensor, y: torch.Tensor, objective: Objective) -> dict:
    """Every metric of the task on one split, the loss, and the objective's error."""
    metrics = task.metrics()
    metrics.update(task.predict(out), task.metric_target(y))
    scores = {k: float(v) for k, v in metrics.compute().items()}
    scores["loss"] = float(task.per_example_loss(out, y).mean())
    if objective.class_costs is not None and task.takes_class_costs:
        weighted = WeightedError(objective.class_costs)
        weighted.update(task.predict(out), task.metric_target(y))
        scores["weighted_error"] = float(weighted.compute())
        scores["error"] = scores["weighted_error"]
    else:
        scores["error"] = objective.error(scores.get(objective.metric))
    scores["n"] = len(y)
    return scores


def evaluate_splits(models, datamodule, task: Task, objective: Objective, splits=("train", "train_dev", "dev")):
    """(split -> scores, split -> Predictions). Pass "test" only from evaluate.py (the vault's door)."""
    predictions = {name: predict(models, datamodule.loader(name)) for name in splits}
    return {name: split_scores(task, p.out, p.y, objective) for name, p in predictions.items()}, predictions


# --------------------------------------------------------------------------- the diagnosis
def diagnose(errors: dict, human_error: float | None, n: dict | None = None, bounded: bool = True) -> dict:
    """errors: split -> error ("test" only once unsealed). Returns gaps, largest gap, next step.

    With `n` (examples per split) and error rates in [0, 1] (`bounded`), each gap also gets a
    noise level: two standard errors of the difference, below which it may be chance.
    """
    levels = {"human": human_error if human_error is not None else 0.0, **errors}
    gaps, noise = {}, {}
    for gap, (a, b) in GAPS.items():
        if a in levels and b in levels and levels[a] is not None and levels[b] is not None:
            gaps[gap] = levels[b] - levels[a]
            if n and bounded:
                var = sum(levels[s] * (1 - levels[s]) / n[s] for s in (a, b) if s in n and n[s])
                noise[gap] = 2 * math.sqrt(max(var, 0.0))
    largest = max(gaps, key=gaps.get) if gaps else None
    result = {
        "errors": {"human": human_error, **errors},
        "human_error_known": human_error is not None,
        "gaps": gaps,
        "largest_gap": largest,
        "recommendation": RECOMMENDATIONS[largest] if largest else None,
    }
    if noise:
        result["gap_noise"] = noise
        result["conclusive"] = largest is None or gaps[largest] > noise.get(largest, 0.0)
    return result


def format_table(diagnosis: dict, metric_name: str, target_line: str | None = None) -> str:
    errors, gaps = diagnosis["errors"], diagnosis["gaps"]
    lines = [f"\nDiagnosis (error = {metric_name}; lower is better)"]
    for split in ("human", "train", "train_dev", "dev", "test"):
        if split not in errors:
            continue
        value = errors[split]
        text = "unknown (objective.human_error), taken as 0" if value is None else f"{value:.4f}"
        lines.append(f"  {split + ' error':<17} {text}")
    noise = diagnosis.get("gap_noise", {})
    for gap, value in gaps.items():
        mark = "  <- largest" if gap == diagnosis["largest_gap"] else ""
        within = f"  (within noise ±{noise[gap]:.3f})" if gap in noise and abs(value) <= noise[gap] else ""
        lines.append(f"  {gap.replace('_', ' '):<17} {value:+.4f}{within}{mark}")
    if target_line:
        lines.append(f"  {target_line}")
    lines.append(f"Next step: {diagnosis['recommendation']}")
    if diagnosis.get("conclusive") is False:
        lines.append("  (the largest gap is within the noise of these split sizes: the diagnosis is not conclusive)")
    return "\n".join(lines)


def degradation_epoch(history: list[dict], key: str = "dev/loss", tolerance: float = 0.05) -> int | None:
    """The epoch after which `key` only got worse: its minimum, if it later rose by > tolerance (relative)."""
    points = [(h["epoch"], h[key]) for h in history if key in h and math.isfinite(h[key])]
    if len(points) < 3:
        return None
    best_epoch, best = min(points, key=lambda p: p[1])
    final = points[-1][1]
    return best_epoch if best_epoch < points[-1][0] and final > best + tolerance * abs(best) else None


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


# --------------------------------------------------------------------------- end of a run
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
    `data_quality` (quality_options): label issues, mismatch evidence, embedding near-duplicates too."""
    from .analysis import error_analysis as run_error_analysis
    from .analysis import save_figure
    from .objective import check_constraints

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # `scored`: (scores, predictions) already computed for these splits (the final scoring of train.py)
    scores, predictions = scored if scored is not None else evaluate_splits(models, datamodule, task, objective, splits)
    bounded = objective.class_costs is not None or objective.higher_is_better
    result = diagnose(
        {s: scores[s]["error"] for s in splits}, objective.human_error, {s: scores[s]["n"] for s in splits}, bounded
    )
    error_name = (
        "weighted error"
        if objective.class_costs is not None and task.takes_class_costs
        else (f"1 - {objective.metric}" if objective.higher_is_better else objective.metric)
    )
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
    for row in result.get("constraints", []):
        shown = "not measured" if row["value"] is None else f"{row['value']:.4g}"
        print(f"  constraint {row['constraint']:<22} {shown:>12}  {'ok' if row['ok'] else 'VIOLATED'}")

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


# --------------------------------------------------------------------------- data quality (quality.py)
def quality_options(cfg) -> dict:
    """The analysis block's data-quality keys, checked: a bad value is a one-line ConfigError."""
    from omegaconf import OmegaConf

    from .config import ConfigError

    a = cfg.get("analysis") or {}
    mismatch = str(a.get("mismatch_evidence", "auto")).lower()
    if mismatch not in ("auto", "true", "false"):
        raise ConfigError(
            f"analysis.mismatch_evidence={a.get('mismatch_evidence')!r} is not known; use auto (when data mismatch "
            "is the largest gap), true (always) or false"
        )
    for key in ("label_issues", "near_duplicates"):
        if not isinstance(a.get(key, True), bool):
            raise ConfigError(f"analysis.{key}={a.get(key)!r} must be true or false")
    n = a.get("quality_examples", 10000)
    if not isinstance(n, int) or n < 50:
        raise ConfigError(
            f"analysis.quality_examples={n!r} must be a whole number >= 50 (examples per split; a sample beyond)"
        )
    return {
        "label_issues": a.get("label_issues", True),
        "mismatch_evidence": mismatch,
        "near_duplicates": a.get("near_duplicates", True),
        "max_examples": n,
        "ratio": float(OmegaConf.select(cfg, "checks.near_duplicates.ratio", default=0.1)),
        "seed": int(cfg.get("seed", 0)),
    }


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
    """Label issues, train-vs-dev evidence and embedding near-duplicates (quality.py): into
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
    found = quality.find_label_issues(datamodule, predictions, task, opts["max_examples"], opts["seed"])
    files = write_label_issues(found, datamodule, out_dir, loggers, worst_k)
    counts = {s: {"suspects": len(f["index"]), "of": f["n"], "from": f["method"]} for s, f in found.items()}
    result["label_issues"] = {"counts": counts, **files}
    listed = ", ".join(f"{s} {c['suspects']} of {c['of']}" for s, c in counts.items())
    print(
        f"\nLabel issues (cleanlab on out-of-sample probabilities): {listed} look mislabeled -> {files.get('png', files['csv'])}"
    )
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


def no_best_reason(cfg, summary: dict, trainer) -> str | None:
    """Why there is no best checkpoint, when satisficing constraints ruled every epoch out; else None.

    Meant to be printed before the scores it explains (they are the last epoch's), in place of
    'checkpoint None'. Stored in summary.json as `no_best_reason`."""
    if (
        not Objective.from_cfg(cfg.objective).constraints
        or trainer.checkpoint_callback is None
        or summary.get("best_checkpoint")
    ):
        return None
    return (
        "no checkpoint satisfied every satisficing constraint (objective.satisficing), so none is 'best': "
        "the scores and the diagnosis are those of the last epoch's weights"
    )


def after_training(cfg, summary: dict, model, datamodule, trainer, scored=None) -> dict:
    """Called by training.train() with the selected checkpoint's weights loaded in `model`."""
    objective = Objective.from_cfg(cfg.objective)
    analysis_cfg = cfg.get("analysis") or {}
    data_quality = quality_options(cfg)
    checkpoint = trainer.checkpoint_callback
    static = getattr(checkpoint, "static", None)
    history_path = Path(cfg.paths.output_dir) / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else None
    selected = None
    if summary.get("best_checkpoint"):
        selected = int(torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)["epoch"])
    reason = no_best_reason(cfg, summary, trainer)
    if reason and summary.get("no_best_reason") != reason:  # not yet printed with the scores (training.print_summary)
        print(f"\nNote: {reason}; the constraints table below shows which one failed.")
    if reason:
        summary["no_best_reason"] = reason
    result = report(
        model,
        datamodule,
        model.task,
        objective,
        Path(cfg.paths.output_dir),
        trainer.loggers,
        history,
        selected,
        error_analysis=analysis_cfg.get("error_analysis", True),
        worst_k=analysis_cfg.get("worst_k", 24),
        static=static,
        scored=scored,
        data_quality=data_quality,
    )
    summary["diagnosis"] = {k: result[k] for k in ("largest_gap", "gaps", "recommendation")}
    if "counts" in result.get("label_issues", {}):
        summary["diagnosis"]["label_issues"] = {s: c["suspects"] for s, c in result["label_issues"]["counts"].items()}
    if "verdict" in result.get("mismatch_evidence", {}):
        summary["diagnosis"]["mismatch_evidence"] = {
            k: result["mismatch_evidence"][k] for k in ("verdict", "auc", "ci")
        }
    summary["feasible"] = bool(result.get("feasible", True)) and (
        not objective.constraints or bool(summary.get("best_checkpoint"))
    )
    if "target" in result:
        summary["target"] = result["target"]
    if static:
        summary["measured"] = static  # params, size_mb (latency_ms when constrained): what sweeps compare
    if "constraints" in result:
        summary["constraints"] = result["constraints"]
    summary["test_split_reads"] = datamodule.test_reads
    return summary


def diagnose_checkpoint(ckpt_path: str, out_dir: str | None = None, worst_k: int = 24) -> dict:
    """diagnose.py: the end-of-training report for any checkpoint, without training (and without test)."""
    from .config import ConfigError
    from .objective import measure_static
    from .runs import load_run

    if not ckpt_path:
        raise ConfigError(
            "ckpt_path is missing; python diagnose.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt"
        )
    cfg, model, datamodule, checkpoint = load_run(ckpt_path)
    run_dir = Path(cfg.paths.output_dir)
    out = Path(out_dir) if out_dir else run_dir / f"diagnose-{Path(ckpt_path).stem}"
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else None
    objective = Objective.from_cfg(cfg.objective)
    data_quality = quality_options(cfg)
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
        data_quality=data_quality,
    )
    result["test_split_reads"] = datamodule.test_reads
    return result
