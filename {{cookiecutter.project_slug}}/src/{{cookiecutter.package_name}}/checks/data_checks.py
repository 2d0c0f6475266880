"""Data checks (M9): on train, train_dev and dev as the model sees them (after
standardization). The test split is never read, so it is not checked either."""

from __future__ import annotations

import math

import torch

from .core import DEV_SPLITS, Result, check


@check("data.finite")
def finite(ctx, opts) -> Result:
    """No NaN or Inf in the inputs or targets of train, train_dev and dev (a multilabel target's
    NaN is a missing label, by design)."""
    found = {}
    for name in DEV_SPLITS:
        x, y = ctx.split(name)
        for part, t in (("x", x), ("y", y)):
            if t.is_floating_point():
                bad = t.isinf() if part == "y" and ctx.task.missing_labels else ~torch.isfinite(t)
                if bad.any():
                    rows = bad.reshape(len(t), -1).any(1)
                    found[f"{name}.{part}"] = {
                        "values": int(bad.sum()),
                        "examples": int(rows.sum()),
                        "nan": int(t.isnan().sum()),
                    }
    total = sum(f["values"] for f in found.values())
    if not total:
        seen = "".join(ctx.sampled(name) for name in DEV_SPLITS)
        return Result(
            "pass", 0, 0, f"no NaN or Inf in inputs or targets of train, train_dev, dev{seen}", shown="0 non-finite"
        )
    where = "; ".join(
        f"{k}: {v['values']} values in {v['examples']} examples ({v['nan']} NaN)" for k, v in found.items()
    )
    return Result(
        "fail",
        total,
        0,
        f"non-finite values after standardization: {where}. One NaN in a raw train feature makes that "
        "feature's mean NaN, and so the whole feature in every split",
        "clean the data source: drop or impute the missing values (e.g. the train median), clip infinities",
        shown=f"{total} non-finite",
        details=found,
    )


@check("data.labels_in_range")
def labels_in_range(ctx, opts) -> Result:
    """Targets the task can learn from: class ids in [0, C) (multiclass), 0/1 (binary), 0/1 or
    missing per label (multilabel), one real value per example (regression)."""
    task, problems, lo, hi = ctx.task, [], None, None
    for name in DEV_SPLITS:
        x, y = ctx.split(name)
        if len(y) != len(x):
            problems.append(f"{name}: {len(x)} inputs but {len(y)} targets")
            continue
        problem = task.label_problem(y)
        if problem:
            problems.append(f"{name}: {problem}")
            continue
        known = y[~y.isnan()] if y.is_floating_point() else y
        if task.classes and len(known):
            lo = float(known.min()) if lo is None else min(lo, float(known.min()))
            hi = float(known.max()) if hi is None else max(hi, float(known.max()))
    threshold = task.target_form
    value = None if lo is None else {"min": lo, "max": hi}
    if problems:
        return Result("fail", value, threshold, "; ".join(problems), task.label_remedy)
    if not task.classes:
        y = ctx.targets("train").float()
        if len(y.unique()) <= opts.get("few_values", 10):
            return Result(
                "warn",
                {"distinct": len(y.unique())},
                threshold,
                f"the regression target takes only {len(y.unique())} distinct values on train: are these classes?",
                "for class ids use data.task=multiclass (or binary)",
            )
        return Result(
            "pass", {"mean": float(y.mean()), "std": float(y.std())}, threshold, "one real target per example"
        )
    counts = task.class_counts(ctx.targets("train"))
    missing = [ctx.spec.class_name(c) for c in range(len(counts)) if counts[c] == 0]
    what = "class(es)" if task.single_label else "label(s) never positive:"
    if missing:
        return Result(
            "warn",
            value,
            threshold,
            f"{what} {missing[:10]} never occur in train: the model cannot learn them",
            "check data.num_classes, or collect examples of the missing classes",
        )
    return Result("pass", value, threshold, "all labels in range; every class occurs in train")


# Values that stand for "no label" in exports and surveys. Numbers count only when they lie
# outside the run of the other class values (classes 0..255 may well include 255).
SENTINEL_WORDS = {"?", "??", "-", "--", "", "na", "n/a", "nan", "none", "null", "nil", "missing", "unknown", "unk"}
SENTINEL_WORDS |= {"undefined", "not available", "not known", "tbd", "todo", "xxx", "error", "#n/a"}
SENTINEL_NUMBERS = {-1, -9, -99, -999, -9999, 99, 999, 9999, 255, 65535}


@check("data.label_values")
def label_values(ctx, opts) -> Result:
    """Class values that look wrong before any training: a sentinel for "no label" (-1, 999, "?",
    "unknown"), a typo of another class ("Rain " beside "rain"), or a handful of examples beside
    classes of hundreds. Counted over train, train_dev and dev, with the examples that hold them."""
    task = ctx.task
    if not task.classes:
        return target_sentinels(ctx)
    if not task.single_label:
        return Result("pass", None, None, "multilabel: 0/1 per label, as data.labels_in_range checks; no class values")
    counts = sum(task.class_counts(ctx.targets(name)) for name in DEV_SPLITS).tolist()
    names = [ctx.spec.class_name(c) for c in range(len(counts))]
    allowed = {str(a) for a in opts.get("allow") or []}
    handful, beside = int(opts.get("handful", 5)), int(opts.get("beside", 100))
    found = {}
    for c, name in enumerate(names):
        if name in allowed or not counts[c]:
            continue
        why = _suspect_label(c, names, counts, handful, beside)
        if why:
            found[name] = {"count": counts[c], "why": why, "examples": _holders(ctx, c)}
    threshold = f"no sentinel or typo class, none <= {handful} beside classes >= {beside}"
    if not found:
        return Result(
            "pass",
            {"classes": len(names)},
            threshold,
            f"{len(names)} class values, none looks like a sentinel or a typo",
        )
    listing = "; ".join(
        f"{name!r}: {f['count']} examples ({f['why']}; e.g. {', '.join(map(str, f['examples'][:5]))})"
        for name, f in found.items()
    )
    return Result(
        "warn",
        {name: f["count"] for name, f in found.items()},
        threshold,
        f"class value(s) that look wrong: {listing}. A model learns them as classes of their own",
        "fix or drop those rows in the data source (a sentinel means 'no label': drop the row or label it); "
        f"if a value is a real class, say so: checks.label_values.allow=[{', '.join(map(repr, found))}]",
        shown=", ".join(f"{n!r} x{f['count']}" for n, f in found.items()),
        details={"suspects": found, "counts": dict(zip(names, counts))},
    )


def target_sentinels(ctx) -> Result:
    """Regression: a code for 'missing' (-999, 9999, ...) far outside the other target values
    (beyond 5 interquartile ranges) is learnt as a value; the loss then chases it."""
    y = torch.cat([ctx.targets(name).double().reshape(-1) for name in DEV_SPLITS])
    found = {}
    for v in SENTINEL_NUMBERS:
        hit = y == v
        rest = y[~hit]
        if hit.any() and len(rest) >= 4:
            q1, q3 = torch.quantile(rest, 0.25).item(), torch.quantile(rest, 0.75).item()
            if not q1 - 5 * (q3 - q1) <= v <= q3 + 5 * (q3 - q1):
                found[f"{v:g}"] = int(hit.sum())
    threshold = "no sentinel number far outside the other targets"
    if not found:
        return Result("pass", None, threshold, "regression: no target value looks like a code for 'missing'")
    return Result(
        "warn",
        found,
        threshold,
        f"target value(s) {found} (value: examples) lie far outside the others: codes for 'missing'? "
        "The model learns them as real targets",
        "drop those rows, or mark the values missing in the data source",
        details={"suspects": found},
    )


def _suspect_label(c: int, names: list, counts: list, handful: int, beside: int) -> str:
    """Why class c looks wrong, or ''."""
    name, n, largest = names[c], counts[c], max(counts)
    if name.strip().lower() in SENTINEL_WORDS:
        return "a word for 'no label'"
    others = [_number(o) for i, o in enumerate(names) if i != c]
    value = _number(name)
    if value in SENTINEL_NUMBERS and None not in others and others and not min(others) - 1 <= value <= max(others) + 1:
        return f"a sentinel number, outside the other classes' {min(others):g}..{max(others):g}"
    for i, other in enumerate(names):
        if i != c and counts[i] >= 10 * n and _alike(name, other):
            return f"a typo of {other!r} ({counts[i]} examples)?"
    # A handful alone at the bottom of the class sizes is a stray; one of a long tail of small classes
    # (airports per state: DC, Delaware, the territories) is the nature of the target.
    isolated = not any(i != c and n / 5 <= k <= 5 * n for i, k in enumerate(counts) if k)
    if n <= handful and largest >= max(beside, 20 * n) and isolated:
        return f"a handful beside {largest} of the largest class"
    return ""


def _number(name: str) -> float | None:
    try:
        return float(name)
    except ValueError:
        return None


def _alike(a: str, b: str) -> bool:
    """The same word but for case, spacing or punctuation, or one letter off (names of 4+ letters)."""
    squash = lambda s: "".join(ch for ch in s.lower() if ch.isalnum())  # noqa: E731
    if squash(a) == squash(b) and squash(a):
        return True
    if _number(a) is not None or min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    return _edits(a.lower(), b.lower()) <= 1


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (short names: the plain dynamic programme)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _holders(ctx, c: int, at_most: int = 20) -> list[str]:
    """Names of (up to `at_most`) examples of class c in train, train_dev and dev."""
    from ..evaluation.quality import bounded_sample

    out = []
    for name in DEV_SPLITS:
        if len(out) >= at_most or not bool((ctx.targets(name) == c).any()):
            continue
        _, y, index = bounded_sample(ctx.dm, name, ctx.dm.size(name), ctx.seed)  # only for a suspect class
        hits = sorted(index[y == c].tolist())[: at_most - len(out)]
        out += [f"{name} {d['example']}" for d in ctx.dm.describe(hits)]
    return out


PAIRS = (("train", "train_dev"), ("train", "dev"), ("train_dev", "dev"))  # (reference, queries)


# long: a check reads top to bottom (measure, judge against chance, say); a third of it is the messages
@check("data.disjoint_splits")
def disjoint_splits(ctx, opts) -> Result:
    """Exact copies across train, train_dev, dev, judged against what random splitting of this
    data gives: copies at the rate train's rows repeat among themselves are the nature of the
    data (new data repeats as much: they do not flatter dev); copies well above it are leakage."""
    from ..evaluation import quality

    hashes = {name: ctx.dm.fingerprints(name) for name in DEV_SPLITS}  # every example, by content hash
    sample = _rate_sample(ctx, int(opts.get("max_train", 20000)))
    alpha, min_excess = float(opts.get("alpha", 1e-3)), float(opts.get("min_excess", 0.01))
    judged, leaks, rates = {}, [], {}
    for ref, query in PAIRS:
        seen = set(hashes[ref])
        shared = sum(h in seen for h in hashes[query])
        size = min(len(hashes[ref]), len(sample))
        rate = rates[size] = rates.get(size) or quality.copy_rates(sample, size, seed=ctx.seed)
        j = judged[f"{ref}&{query}"] = quality.judge_copies(
            shared, len(hashes[query]), rate["natural"], rate["trials"], alpha
        )
        j.update(within_train={k: round(v, 4) for k, v in rate.items() if k != "trials"})
        if (j["above_chance"] and j["excess"] >= min_excess) or j["excess"] > j["band"]:
            leaks.append(f"{ref}&{query}")
    conflicts = quality.conflicting_copies(
        [h for name in DEV_SPLITS for h in hashes[name]],
        [_label_key(y) for name in DEV_SPLITS for y in ctx.targets(name)],
    )
    if not ctx.task.classes:  # a real-valued target: copies differ by noise, there is no error count
        conflicts["error_floor"] = None
    details = {"pairs": judged, "conflicting_copies": conflicts}
    total = sum(j["shared"] for j in judged.values())
    threshold = f"copies within the natural rate (p>={alpha:g}, or excess < {min_excess:.0%})"
    conflict = _conflict_note(conflicts)
    if leaks:
        return Result(
            "fail",
            total,
            threshold,
            "copies between splits beyond what random splitting of this data gives: "
            + "; ".join(_pair_line(p, judged[p]) for p in leaks)
            + f". {_natural_line(judged[leaks[0]]['within_train'])}. The model is scored on examples it trained on, "
            "so those splits look better than new data would" + conflict,
            "the source repeats records (an export that repeats rows, one item recorded several times, augmented or "
            "re-saved copies beside their originals): remove the repeats before splitting, or keep every copy of one "
            "item in one split"
            + (
                " (data.group=inputs does, or data.group=COLUMN with an id column)"
                if ctx.spec.source_kind == "table"
                else ""
            ),
            shown=f"{total} shared, above chance",
            details=details,
        )
    status = "warn" if any(j["above_chance"] for j in judged.values()) else "pass"
    natural = judged["train&dev"]["within_train"]
    message = (
        f"train, train_dev, dev share {total} examples (exact inputs): "
        + "; ".join(_pair_line(p, j) for p, j in judged.items() if j["shared"])
        + f", the rate train's own rows repeat ({natural['copies']:.1%} of them have a copy in train): the nature of "
        "this data, not leakage (new data repeats as much)"
        if total
        else "train, train_dev, dev share no example (exact match of inputs)"
    )
    if status == "warn":
        message = message.replace("the rate train's own rows", "a little above the rate train's own rows")
    return Result(
        status,
        total,
        threshold,
        message + conflict,
        "look at the repeated records: a few rows exported twice?" if status == "warn" else "",
        shown=f"{total} shared" + (" (natural rate)" if total and status == "pass" else ""),
        details=details,
    )


def _rate_sample(ctx, max_train: int):
    """The train rows the natural rate is measured on: as many as a reference split holds, up to
    max_train. Where an item repeats a few times (a person a year), a copy among 4,096 rows is
    rarer than among 16,000, and a rate measured on the checks' usual sample made a real panel
    fail. Inputs wider than quality.WIDE (images) have a natural rate of 0 at any size."""
    from ..evaluation import quality

    if math.prod(ctx.dm.spec.input_shape) > quality.WIDE:
        return ctx.split("train")[0]
    return ctx.dm.sample("train", max_train, seed=ctx.seed)[0]


def _label_key(y) -> object:
    """A target as a hashable value: a class id, a float, or a row of labels (multilabel)."""
    return tuple(y.tolist()) if y.ndim else y.item()


def _pair_line(pair: str, j: dict) -> str:
    return f"{pair} {j['shared']} of {j['n']} (expected {j['expected']:g} at the natural rate, p={j['p_value']:.2g})"


def _natural_line(w: dict) -> str:
    """How the natural rate came about (quality.copy_rates)."""
    if w["copies"] > w["natural"]:
        return (
            f"Train's own rows repeat ({w['copies']:.1%} have a copy in train) but only {w['one_off']:.1%} have a "
            "neighbour one value off: repeated records, not a coarse feature space"
        )
    return f"Natural rate: {w['natural']:.1%} of train's rows have a copy in train"


def _conflict_note(c: dict) -> str:
    if not c["examples"]:
        return ""
    if c["error_floor"] is None:
        return f". {c['examples']} examples are copies with different targets: noise no model can explain"
    return (
        f". {c['examples']} examples are copies with different labels: an error floor of {c['error_floor']:.1%} "
        "no model can beat (irreducible error)"
    )


def source_columns(names: list[str] | None, width: int) -> dict[str, list[int]]:
    """Encoded feature positions per source column: a one-hot category (name=value) and a
    missing-value indicator (name_missing) belong to the column they came from."""
    names = names or [f"x{j}" for j in range(width)]
    plain = set(names)
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(names):
        source = name.split("=", 1)[0]
        if source == name and name.endswith("_missing") and name[: -len("_missing")] in plain:
            source = name[: -len("_missing")]
        groups.setdefault(source, []).append(j)
    return groups


def _one_feature_skill(x, y, held_x, held_y, classes: bool, seed: int) -> tuple[float, float]:
    """(train, held-out) skill of a shallow tree on the given columns alone: 1 - error / the
    constant prediction's error (accuracy's error for classes, squared error for values)."""
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if classes:
        tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=2, random_state=seed).fit(x, y)
        major = np.bincount(y).argmax()
        skill = [
            1 - np.mean(tree.predict(a) != b) / max(np.mean(b != major), 1e-12) for a, b in ((x, y), (held_x, held_y))
        ]
    else:
        tree = DecisionTreeRegressor(max_depth=8, min_samples_leaf=3, random_state=seed).fit(x, y)
        mean = y.mean()
        skill = [
            1 - np.mean((tree.predict(a) - b) ** 2) / max(np.mean((b - mean) ** 2), 1e-12)
            for a, b in ((x, y), (held_x, held_y))
        ]
    return float(skill[0]), float(skill[1])


@check("data.target_leak", needs=("data.finite",))
def target_leak(ctx, opts) -> Result:
    """No input column predicts the target on its own almost perfectly, on train and on held-out
    data (train_dev + dev): a shallow tree per source column, bounded in time. A column that does
    is usually known only after the target (hours worked for "worked"), a leak the model learns
    in place of the task."""
    task = ctx.task
    several_labels = task.classes and not task.single_label
    if len(ctx.spec.input_shape) != 1 or several_labels:
        why = "several labels per example" if several_labels else f"inputs of shape {list(ctx.spec.input_shape)}"
        # a pass, not a skip: there is no input column that could carry the target on its own
        return Result("pass", None, None, f"{why}: no table columns to look at one by one", shown="not a table")
    warn_at = float(opts.get("warn_skill", 0.98))
    fail_at = opts.get("fail_skill")  # null: perfect for classes; for values, a column ordered as the target
    threshold = f"one column's skill < {warn_at:g} on train and held-out (1 = perfect, 0 = the constant's)"
    found, looked = _column_skills(ctx, float(opts.get("max_seconds", 10)))
    if found is None:
        return Result("skip", None, threshold, looked)
    best = max(found, key=lambda k: min(found[k]))
    low = min(found[best])
    value = {"column": best, "train_skill": round(found[best][0], 4), "held_out_skill": round(found[best][1], 4)}
    if low < warn_at:
        message = f"no column alone predicts the target ({looked}; the best, {best!r}, skill {low:.2f})"
        return Result("pass", value, threshold, message, shown=f"best {best}: {low:.2f}")
    drop = f"data.drop=[{','.join(k for k in found if min(found[k]) >= warn_at)}]"
    if fail_at is not None:
        perfect = low >= float(fail_at) - 1e-9
    elif task.classes:
        perfect = low >= 1.0 - 1e-9
    else:  # a tree of one column is piecewise constant: it comes near a smooth trend shared by two series
        perfect = _ordered_as_the_target(ctx, best)  # (consumption and GDP), exact only for a copy of the target
    status = "fail" if perfect else "warn"
    return Result(
        status,
        value,
        threshold,
        f"column {best!r} alone predicts the target {'perfectly' if status == 'fail' else 'almost perfectly'} (skill "
        f"{found[best][0]:.3f} on train, {found[best][1]:.3f} on train_dev+dev; 1 = no error, 0 = the constant's): a "
        "target leak when it is known only after the target (or computed from it)",
        f"if it is not available when predicting, drop it: {drop}; if it is, a one-column rule already solves the task",
        shown=f"{best}: {low:.3f}",
        details={"skill": {k: [round(a, 4), round(b, 4)] for k, (a, b) in found.items()}},
    )


def _ordered_as_the_target(ctx, column: str) -> bool:
    """A one-number column whose order is the target's (rank correlation +-1 on train and on held-out
    rows): the target itself, transformed (log, a scale, a shift), not a co-moving quantity."""
    import numpy as np
    from scipy.stats import spearmanr

    cols = source_columns(ctx.spec.feature_names, len(ctx.spec.feature_names)).get(column, [])
    if len(cols) != 1:
        return False
    for split in ("train", "dev"):
        x, y = ctx.split(split)
        x, y = x[:, cols[0]].numpy(), y.numpy().astype(float)
        if len(y) < 3 or np.std(x) == 0 or abs(spearmanr(x, y).statistic) < 1 - 1e-9:
            return False
    return True


def _column_skills(ctx, budget: float) -> tuple[dict | None, str]:
    """(source column -> (train skill, held-out skill), what was looked at), or (None, why not)."""
    import time

    import numpy as np

    classes = ctx.task.classes
    x, y = (t.numpy() for t in ctx.split("train"))
    held = [ctx.split(s) for s in ("train_dev", "dev")]
    hx, hy = np.concatenate([h[0].numpy() for h in held]), np.concatenate([h[1].numpy() for h in held])
    y, hy = (y.astype(np.int64), hy.astype(np.int64)) if classes else (y.astype(float), hy.astype(float))
    if len(y) < 20 or len(hy) < 10 or (classes and len(np.unique(y)) < 2) or np.std(y) == 0:
        return None, f"{len(y)} train, {len(hy)} held-out examples (or one target value): too few to judge one column"
    groups = source_columns(ctx.spec.feature_names, x.shape[1])
    start, found = time.perf_counter(), {}
    for name, cols in groups.items():
        if time.perf_counter() - start > budget:
            break
        found[name] = _one_feature_skill(x[:, cols], y, hx[:, cols], hy, classes, ctx.seed)
    if len(found) < len(groups):
        return found, f"{len(found)} of {len(groups)} columns within checks.target_leak.max_seconds"
    return found, f"{len(found)} columns"


@check("data.standardized", needs=("data.finite",))
def standardized(ctx, opts) -> Result:
    """Train inputs have mean ~0 and std ~1 per feature (tables) or per channel (images)."""
    x = ctx.split("train")[0].double()
    dims = (0,) if x.ndim == 2 else (0, *range(2, x.ndim))
    what = "feature" if x.ndim == 2 else "channel"
    mean = x.mean(dims).reshape(-1)
    std = x.std(dims, unbiased=False).reshape(-1)
    varying = std > 1e-6  # constant features are excepted: standardization leaves them at 0
    mean_tol, std_tol = float(opts.get("mean_tol", 0.1)), float(opts.get("std_tol", 0.1))
    threshold = f"|mean|<={mean_tol:g}, |std-1|<={std_tol:g}"
    if not varying.any():
        return Result("warn", None, threshold, f"every input {what} is constant on train", "check the data source")
    off = varying & ((mean.abs() > mean_tol) | ((std - 1).abs() > std_tol))
    err = torch.maximum(mean.abs(), (std - 1).abs()).masked_fill(~varying, 0)
    worst = int(err.argmax())
    value = {"worst_mean": float(mean[worst]), "worst_std": float(std[worst])}
    shown = f"mean {float(mean[worst]):.3g} std {float(std[worst]):.3g}"
    constant = int((~varying).sum())
    if off.any():
        return Result(
            "warn",
            value,
            threshold,
            f"{int(off.sum())} of {len(mean)} input {what}s are not standardized on train; worst: {what} {worst} "
            f"with mean {float(mean[worst]):.4g} and std {float(std[worst]):.4g}. Unscaled inputs slow "
            "down and destabilize gradient descent",
            f"set data.standardize={'per_feature' if x.ndim == 2 else 'per_channel'} (statistics fitted on train only)",
            shown=shown,
            details={"mean": mean.tolist(), "std": std.tolist()},
        )
    return Result(
        "pass",
        value,
        threshold,
        f"all {len(mean) - constant} varying {what}s standardized"
        + (f"; {constant} constant ones excepted" if constant else ""),
        shown=shown,
    )


@check("data.shuffled")
def shuffled(ctx, opts) -> Result:
    """The train loader shuffles (anew each epoch); the eval loaders keep the split's order."""
    dm = ctx.dm
    loader = dm.train_dataloader()
    first = next(iter(loader))[2]  # example indices: a split is stored in index order
    again = next(iter(loader))[2]  # a second pass: the next epoch
    in_order = bool((first[1:] > first[:-1]).all())
    reshuffled = not torch.equal(first, again)
    eval_loaders = dm.val_dataloader()
    eval_loaders = eval_loaders if isinstance(eval_loaders, (list, tuple)) else [eval_loaders]
    names = list(dm.eval_splits)
    eval_shuffled = []
    for name, el in zip(names, eval_loaders):
        if name in DEV_SPLITS:
            index = next(iter(el))[2]
            if not bool((index[1:] > index[:-1]).all()):
                eval_shuffled.append(name)
        elif getattr(el, "shuffle", False) or type(getattr(el, "sampler", None)).__name__ == "RandomSampler":
            eval_shuffled.append(str(name))
    value = {"train": not in_order, "eval": not eval_shuffled}
    shown = (
        f"train {'shuffled' if not in_order else 'IN ORDER'}; eval {'in order' if not eval_shuffled else 'shuffled'}"
    )
    if in_order and len(first) > 1:
        return Result(
            "fail",
            value,
            "train shuffled",
            "the train loader serves the examples in their stored order: batches are correlated (e.g. sorted by class) "
            "and the gradient estimates biased",
            "shuffle the train loader (InMemoryLoader(shuffle=True), or DataLoader(shuffle=True))",
            shown=shown,
        )
    if not reshuffled:
        return Result(
            "warn",
            value,
            "train reshuffled each epoch",
            "the train loader shuffles once, then repeats the same order every epoch",
            "draw a new permutation each epoch",
            shown=shown,
        )
    if eval_shuffled:
        return Result(
            "warn",
            value,
            "eval in order",
            f"eval loader(s) {eval_shuffled} shuffle: harmless for averages, but per-example outputs no longer line up with the split",
            "serve eval splits in order (shuffle=False)",
            shown=shown,
        )
    return Result(
        "pass",
        value,
        "train shuffled, eval in order",
        "train reshuffles each epoch; eval loaders keep the split's order",
        shown=shown,
    )


@check("data.class_balance")
def class_balance(ctx, opts) -> Result:
    """Class shares on train (and dev); warns when one class dominates (the accuracy paradox)."""
    task = ctx.task
    if not task.classes:
        y = ctx.targets("train").float()
        return Result(
            "skip",
            {"mean": float(y.mean()), "std": float(y.std())},
            None,
            f"regression: no classes (train target mean {float(y.mean()):.4g}, std {float(y.std()):.4g})",
        )
    if not task.single_label:
        return label_balance(ctx, opts)
    shares = {}
    for name in ("train", "dev"):
        counts = task.class_counts(ctx.targets(name)).double()
        shares[name] = counts / max(float(counts.sum()), 1)
    train = shares["train"]
    major = int(train.argmax())
    top = float(train[major])
    present = train[train > 0]
    ratio = float(present.max() / present.min())
    max_share, max_ratio = float(opts.get("max_share", 0.8)), float(opts.get("max_ratio", 10))
    name = ctx.spec.class_name
    value = {"majority_class": name(major), "share": top, "largest/smallest": ratio}
    threshold = f"share<{max_share:g}, ratio<{max_ratio:g}"
    shown = f"{name(major)}: {top:.1%} (x{ratio:.3g})"
    listing = ", ".join(f"{name(c)}:{s:.1%}" for c, s in enumerate(train.tolist()))
    details = {k: v.tolist() for k, v in shares.items()}
    remedy_on = ctx.imbalance
    if (top >= max_share or ratio >= max_ratio) and remedy_on != "none":
        metric = ctx.metric
        return Result(
            "pass" if metric in ("balanced_accuracy", "f1", "weighted_error") else "warn",
            value,
            threshold,
            f"imbalanced (largest/smallest class x{ratio:.3g}; train shares: {listing}), and imbalance={remedy_on} is on",
            ""
            if metric in ("balanced_accuracy", "f1", "weighted_error")
            else f"objective.metric={metric} rewards the large classes; optimize a balanced one (objective.metric=balanced_accuracy or f1)",
            shown=shown,
            details=details,
        )
    if top >= max_share or ratio >= max_ratio:
        dev_acc = float(shares["dev"][major])
        return Result(
            "warn",
            value,
            threshold,
            f"class {name(major)} holds {top:.1%} of train; always predicting it scores {dev_acc:.1%} accuracy on dev "
            f"without looking at the input (accuracy paradox). Train shares: {listing}",
            f"{REMEDIES}, and optimize a balanced metric (objective.metric=balanced_accuracy or f1)",
            shown=shown,
            details=details,
        )
    return Result("pass", value, threshold, f"train shares: {listing}", shown=shown, details=details)


REMEDIES = "weight the classes in the loss (imbalance=class_weights) or draw train batches class-balanced (imbalance=balanced_sampler)"


def label_balance(ctx, opts) -> Result:
    """Multilabel: the share of positives of each label among the examples that have it; a
    label that is almost always 0 (or 1) is learnt as a constant (the accuracy paradox, per label)."""
    y = ctx.targets("train")
    present = (~y.isnan()).sum(0).clamp_min(1).double()
    shares = ctx.task.class_counts(y).double() / present
    max_share = float(opts.get("max_share", 0.8))
    name = ctx.spec.class_name
    skewed = [j for j, s in enumerate(shares.tolist()) if max(s, 1 - s) >= max_share]
    listing = ", ".join(f"{name(j)}:{s:.1%}" for j, s in enumerate(shares.tolist()))
    missing = float(y.isnan().double().mean())
    value = {"positive_share": {name(j): float(s) for j, s in enumerate(shares)}, "missing": missing}
    threshold = f"positives share in ({1 - max_share:g}, {max_share:g})"
    shown = f"{len(skewed)} skewed of {len(shares)}"
    if skewed:
        return Result(
            "warn",
            value,
            threshold,
            f"label(s) {[name(j) for j in skewed][:10]} are one value in >= {max_share:.0%} of the train examples that have them "
            f"(positive shares: {listing}; {missing:.1%} of labels missing): a constant scores well on them",
            "weight the positives in the loss (imbalance=class_weights) and optimize a balanced metric "
            "(objective.metric=balanced_accuracy or f1)",
            shown=shown,
        )
    return Result("pass", value, threshold, f"positive shares: {listing}; {missing:.1%} of labels missing", shown=shown)
