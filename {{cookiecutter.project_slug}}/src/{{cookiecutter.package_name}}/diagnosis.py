"""Bias / variance / data-mismatch diagnosis (M31) and learning curves (M32).

    human-level --(avoidable bias)--> train --(variance)--> train_dev --(data mismatch)--> dev
                                                                 --(dev overfitting)--> test

Each gap has its own remedy; the largest one says what to do next. All errors are the
optimizing metric turned into an error (1 - accuracy, or MAE itself), or the weighted
error when objective.class_costs is set. The test split is never read here.

Pure arithmetic on errors and histories (no model, no files): the scoring is scoring.py, the
report files and figures reports.py, the end-of-run glue end_of_run.py.
"""

from __future__ import annotations

import math

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
