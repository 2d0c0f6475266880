"""Bias / variance / data-mismatch diagnosis (M31) and learning curves (M32).

    human-level --(avoidable bias)--> train --(variance)--> train_dev --(data mismatch)--> dev
                                                                 --(dev overfitting)--> test

Each gap has its own remedy; the largest one says what to do next. All errors are the
optimizing metric turned into an error (1 - accuracy, or MAE itself), or the weighted
error when objective.class_costs is set. The test split is never read here.

Pure arithmetic on errors and histories (no model, no files): the scoring is evaluation/scoring.py, the
report files and figures evaluation/reports.py, the end-of-run glue evaluation/end_of_run.py.
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


AT_FLOOR = (
    "The train error is at the data's floor: identical inputs carry different labels (the error floor above), so no "
    "model, bigger or not, can get them all right. What helps is information the inputs lack: more informative "
    "features (columns that tell the conflicting rows apart), or a target defined so that it is decidable."
)
AT_REFERENCE = (
    "The train error is at the best level a strong classical model reaches on held-out data ({model}): little "
    "avoidable bias is left to remove; look at the other gaps, and at more informative inputs."
)
BOTTLENECK = "The reference, {model}, reaches {ref:.4f} {metric} on dev; yours {net:.4f}: the net is the bottleneck, not the data."
NO_GAP = (
    "No gap is positive: on every split the net is at the best level known here (the line above). What is left "
    "is information the inputs lack (more informative features), more data, or a human-level figure "
    "(objective.human_error) that shows how far there is to go."
)
NET_REMEDY = (
    "Reduce avoidable bias in the net: train longer, tune the learning rate and optimizer (a sweep), lower the "
    "regularization, then a bigger or different net; for a table, the reference itself may be the better model."
)


def bayes_proxy(
    human_error: float | None, reference: dict | None, floor: float | None, net: dict | None = None
) -> tuple[float, str | None]:
    """(level, source): the best achievable error known, the human level's stand-in. objective.human_error
    when set; else the best held-out error (train_dev: the training distribution, out of sample) any
    system here reaches, the reference's or the net's own, never below the data's floor (copies with
    conflicting labels bound the Bayes error from below)."""
    if human_error is not None:
        return human_error, "objective.human_error"
    errors = (reference or {}).get("errors") or {}
    reached = {"reference": errors.get("train_dev", errors.get("dev")), "net": (net or {}).get("train_dev")}
    reached = {k: v for k, v in reached.items() if v is not None}
    floor = floor or 0.0
    if reached:
        source = min(reached, key=reached.get)
        if reached[source] >= floor:
            return reached[source], source
    return (floor, "floor") if floor > 0 else (0.0, None)


def _noise(a: float, b: float, na: int | None, nb: int | None) -> float:
    if not na or not nb:
        return 0.0
    return 2 * math.sqrt(max(a * (1 - a) / na + b * (1 - b) / nb, 0.0))


def diagnose(
    errors: dict,
    human_error: float | None,
    n: dict | None = None,
    bounded: bool = True,
    reference: dict | None = None,
    floor: float | None = None,
    baseline: dict | None = None,
) -> dict:
    """errors: split -> error ("test" only once unsealed). Returns gaps, largest gap, next step.

    With `n` (examples per split) and error rates in [0, 1] (`bounded`), each gap also gets a
    noise level: two standard errors of the difference, below which it may be chance.
    `reference` ({model, errors, scores, metric, net_scores}): a classical model's errors per split,
    the Bayes proxy when human_error is unknown; `floor`: the share of train no model can get
    right (conflicting copies); `baseline` ({errors, line}): the input-ignoring prediction's.
    """
    level, source = bayes_proxy(human_error, reference, floor, errors if reference else None)
    levels = {"human": level, **errors}
    gaps, noise = {}, {}
    for gap, (a, b) in GAPS.items():
        if a in levels and b in levels and levels[a] is not None and levels[b] is not None:
            gaps[gap] = levels[b] - levels[a]
            if n and bounded:
                var = sum(levels[s] * (1 - levels[s]) / n[s] for s in (a, b) if s in n and n[s])
                noise[gap] = 2 * math.sqrt(max(var, 0.0))
    positive = {g: v for g, v in gaps.items() if v > 0}  # a negative gap is no problem to work on
    largest = max(positive, key=positive.get) if positive else None
    result = {
        "errors": {"human": human_error, **errors},
        "human_error_known": human_error is not None,
        "bayes_proxy": {"error": level, "source": source},
        "gaps": gaps,
        "largest_gap": largest,
        "recommendation": RECOMMENDATIONS[largest] if largest else (NO_GAP if gaps else None),
    }
    if floor is not None:
        result["error_floor"] = floor
    if reference and reference.get("errors"):
        result["reference"] = reference
        _reference_advice(result, errors, n or {}, bounded, floor)
    if baseline and errors.get("dev") is not None and baseline["errors"].get("dev") is not None:
        # a baseline already right on every dev example (dev of one class) leaves nothing to beat
        if errors["dev"] >= baseline["errors"]["dev"] > 0:
            result["below_baseline"] = baseline["line"]
            ref_dev = ((reference or {}).get("errors") or {}).get("dev")
            if ref_dev is not None and ref_dev >= baseline["errors"]["dev"]:  # no model finds anything either
                result["below_baseline"] += (
                    f" Nor does the reference ({reference['model']}, dev error {ref_dev:.4f}): these inputs say little "
                    "about this target; more informative inputs help, a different model does not."
                )
    if noise:
        result["gap_noise"] = noise
        result["conclusive"] = largest is None or gaps[largest] > noise.get(largest, 0.0)
    return result


def _reference_advice(result: dict, errors: dict, n: dict, bounded: bool, floor: float | None) -> None:
    """The next step, knowing the reference and the floor: it names the reference where it beats the
    net on dev, and never says "bigger model" where the train error is at the floor already."""
    ref, largest = result["reference"], result["largest_gap"]
    train, ref_errors = errors.get("train"), ref["errors"]
    dev, ref_dev = errors.get("dev"), ref_errors.get("dev")
    margin = _noise(dev, ref_dev, n.get("dev"), n.get("dev")) if bounded and None not in (dev, ref_dev) else 0.0
    beats = None not in (dev, ref_dev) and ref_dev < dev - max(margin, 0.05 * abs(dev) if not bounded else 0.0)
    noise = _noise if bounded else (lambda *_: 0.0)  # error rates only: an MAE has no binomial noise
    at_floor = (
        bool(floor) and train is not None and train <= floor + noise(floor, train, n.get("train"), n.get("train"))
    )
    level = result["bayes_proxy"]["error"]
    at_level = train is not None and train <= level + noise(level, train, n.get("train_dev"), n.get("train"))
    result["reference_beats_net"] = bool(beats)
    if largest == "avoidable_bias" and at_floor:
        result["recommendation"] = AT_FLOOR
    elif largest == "avoidable_bias" and at_level and not beats:
        result["recommendation"] = AT_REFERENCE.format(model=ref["model"])
    elif beats:
        scores = ref.get("scores") or {}
        line = BOTTLENECK.format(
            model=ref["model"],
            ref=scores.get("dev", ref_dev),
            net=(ref.get("net_scores") or {}).get("dev", dev),
            metric=ref.get("metric", "error"),
        )
        rest = NET_REMEDY if largest == "avoidable_bias" else result["recommendation"]
        result["recommendation"] = f"{rest} {line}"
        result["bottleneck"] = line


def format_table(diagnosis: dict, metric_name: str, target_line: str | None = None) -> str:
    errors, gaps = diagnosis["errors"], diagnosis["gaps"]
    ref = diagnosis.get("reference")
    lines = []
    if diagnosis.get("below_baseline"):  # first: nothing below matters much before the net beats a constant
        lines.append(f"\n{diagnosis['below_baseline']}")
    head = f"Diagnosis (error = {metric_name}; lower is better)"
    lines.append(f"\n{head}")
    if ref:
        lines.append(f"  {'':<17} {'net':<6}  reference ({ref['model']})")
    for split in ("human", "train", "train_dev", "dev", "test"):
        if split not in errors:
            continue
        value = errors[split]
        if split == "human":
            lines.append(f"  {'human error':<17} {_human_text(diagnosis, value)}")
            continue
        beside = (ref or {}).get("errors", {}).get(split)
        lines.append(f"  {split + ' error':<17} {value:.4f}" + (f"  {beside:.4f}" if beside is not None else ""))
    if diagnosis.get("error_floor"):
        lines.append(
            f"  {'error floor':<17} {diagnosis['error_floor']:.4f}  (identical train inputs with different labels: "
            "no model gets these right)"
        )
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


def _human_text(diagnosis: dict, value: float | None) -> str:
    if value is not None:
        return f"{value:.4f}"
    proxy = diagnosis.get("bayes_proxy") or {}
    if proxy.get("source") in ("reference", "net"):
        whose = "the reference's" if proxy["source"] == "reference" else "the net's own"
        return (
            f"unknown (objective.human_error); proxy {proxy['error']:.4f}, {whose} train_dev error "
            "(the best level a system reaches here)"
        )
    if proxy.get("source") == "floor":
        return f"unknown (objective.human_error); proxy {proxy['error']:.4f}, the error floor below"
    return "unknown (objective.human_error), taken as 0"


def degradation_epoch(history: list[dict], key: str = "dev/loss", tolerance: float = 0.05) -> int | None:
    """The epoch after which `key` only got worse: its minimum, if it later rose by > tolerance (relative)."""
    points = [(h["epoch"], h[key]) for h in history if key in h and math.isfinite(h[key])]
    if len(points) < 3:
        return None
    best_epoch, best = min(points, key=lambda p: p[1])
    final = points[-1][1]
    return best_epoch if best_epoch < points[-1][0] and final > best + tolerance * abs(best) else None
