"""Data-quality checks beyond exact equality (M4, M9): near-duplicates across splits.
The maths is in evaluation/quality.py; the label-error and train-vs-dev reports come after training
(evaluation/reports.py), since they need a model's out-of-sample probabilities."""

from __future__ import annotations

from pathlib import Path

from ..evaluation import quality
from .core import Result, check


# long: a check reads top to bottom; a third of it is the messages and the files it writes
@check("data.near_duplicates")
def near_duplicates(ctx, opts) -> Result:
    """No train_dev / dev example lies much closer to a train example than train examples
    lie to each other (a re-encoded image, a row with one field reformatted), beyond what
    chance gives in data of this intrinsic dimension (quality.Neighbours.chance)."""
    ratio, alpha = float(opts.get("ratio", 0.1)), float(opts.get("alpha", 1e-3))
    reference = quality.bounded_sample(ctx.dm, "train", int(opts.get("max_train", 20000)), ctx.seed)
    queries = {name: quality.bounded_sample(ctx.dm, name, ctx.max_examples, ctx.seed) for name in quality.QUERY_SPLITS}
    floor = quality.spread_floor(ctx.dm, float(opts.get("min_spread", 0.05)))
    scaled = (lambda x: x) if floor is None else (lambda x: quality.flat(x) * floor)
    found = quality.near_duplicates(
        scaled(reference[0]),
        {n: scaled(q[0]) for n, q in queries.items()},
        ratio=ratio,
        max_dims=int(opts.get("max_dims", 256)),
        seed=ctx.seed,
    )
    typical = found["dev"].typical
    threshold = f"<= {ratio:g} x typical train NN distance ({typical:.3g})"
    counts = {n: int(f.flagged.sum()) for n, f in found.items()}
    judged = {n: judge(f, alpha) for n, f in found.items()}
    closest = min((float(f.ratio.min()) for f in found.values() if len(f.distance)), default=float("inf"))
    seen = "".join(ctx.sampled(n) for n in quality.QUERY_SPLITS)
    if len(reference[2]) < ctx.dm.size("train"):
        seen += (
            f" (compared with a sample of {len(reference[2])} of {ctx.dm.size('train')} train examples: "
            "raise checks.near_duplicates.max_train)"
        )
    value = {"dev": counts["dev"], "train_dev": counts["train_dev"], "closest": round(closest, 3)}
    if not sum(counts.values()):
        return Result(
            "pass",
            value,
            threshold,
            f"no train_dev or dev example within {ratio:g}x the typical train nearest-neighbour distance of a "
            f"train example; the closest lies at {closest:.2f}x{seen}",
            shown=f"0 (closest {closest:.2f}x)",
        )
    rows = quality.pair_rows(ctx.dm, reference, queries, found)
    shares = {n: counts[n] / max(len(f.distance), 1) for n, f in found.items()}
    details = {"counts": counts, "shares": shares, "typical_distance": typical, "ratio": ratio, "judged": judged}
    details["dimension"] = round(found["dev"].dimension, 2)
    where = write_pairs(ctx, rows) if getattr(ctx, "out_dir", None) else {}
    details.update(where)
    exact = sum(r["ratio"] == 0 for r in rows)
    conflicting = sum(r["label"] != r["train_label"] for r in rows)
    look = f" Look at them: {where.get('png', where.get('csv'))}." if where else ""
    listing = (
        f"{counts['dev']} dev ({shares['dev']:.1%}) and {counts['train_dev']} train_dev ({shares['train_dev']:.1%}) "
        f"examples lie within {ratio:g}x the typical distance of a train example ({exact} exact copies, judged by "
        f"data.disjoint_splits; {conflicting} with another label)"
    )
    if not any(j["above_chance"] for j in judged.values()):
        expected = ", ".join(f"{n} {j['near']} (expected {j['expected']:.2g})" for n, j in judged.items())
        return Result(
            "pass",
            value,
            threshold,
            f"{listing}: as many near ties as chance gives in data that fills about {found['dev'].dimension:.2g} "
            f"dimensions ({expected}): the nature of the data, not copies{seen}.{look}",
            shown=f"{counts['dev']} dev, {counts['train_dev']} train_dev (chance)",
            details=details,
        )
    return Result(
        "warn",
        value,
        threshold,
        f"{listing}, more than chance gives ("
        + ", ".join(f"{n} {j['near']} not exact, expected {j['expected']:.2g}" for n, j in judged.items())
        + f"): near copies of what the model trains on make those splits look better than new data would{seen}.{look}",
        "if they are the same example (re-encoded, re-saved, a reformatted field), deduplicate the source before it is "
        "split, or keep every copy of one item in one split; if they are genuinely distinct, lower checks.near_duplicates.ratio",
        shown=f"{counts['dev']} dev ({shares['dev']:.1%}), {counts['train_dev']} train_dev",
        details=details,
    )


def judge(found, alpha: float) -> dict:
    """Near copies that are not exact (exact ones are data.disjoint_splits') against the number
    chance puts within the threshold (quality.Neighbours.chance): Poisson p of at least as many."""
    from scipy.stats import poisson

    near = found.flagged & (found.distance > 0)
    expected = float(found.chance[found.distance > 0].sum())
    k = int(near.sum())
    p = float(poisson.sf(k - 1, expected)) if k else 1.0
    return {"near": k, "expected": round(expected, 3), "p_value": p, "above_chance": p < alpha}


def write_pairs(ctx, rows: list[dict], pairs: int = 8) -> dict:
    """near_duplicates.csv (every pair) and, for images, near_duplicates.png: each flagged
    example above the train example it nearly copies."""
    from ..evaluation.analysis import image_grid, is_image, save_figure, write_csv

    out = Path(ctx.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    where = {"csv": str(write_csv(out / "near_duplicates.csv", rows))}
    if is_image(tuple(ctx.spec.input_shape)):
        top = rows[:pairs]
        images = ctx.dm.standardizer.inverse(
            ctx.dm.examples([r["index"] for r in top] + [r["train_index"] for r in top])[0]
        )
        titles = [f"{r['split']} {r['example']}\nlabel {r['label']}" for r in top] + [
            f"train {r['train_example']}\nlabel {r['train_label']}, d={r['ratio']:.2f}x" for r in top
        ]
        fig = image_grid(
            images,
            titles,
            f"{len(rows)} near-duplicates: top row train_dev/dev, below each the train example it nearly copies",
            cols=len(top),
        )
        where["png"] = str(save_figure(fig, out / "near_duplicates.png"))
    return where
