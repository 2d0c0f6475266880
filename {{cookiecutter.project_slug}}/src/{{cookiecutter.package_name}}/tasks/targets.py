"""Targets as the data gives them, read for the task kinds: which kind a column of targets is
(data.task=auto), and the encodings the kinds share (class ids with names, a 0/1 label
matrix). Each kind's encode_targets (tasks/base.py) uses these; nothing outside tasks/
compares a kind's name."""

from __future__ import annotations

import numpy as np
import torch

from ..common import ConfigError

MAX_CLASSES_INFERRED = 50  # integer targets with more distinct values than this are taken as regression
FEW_CODES = 10  # up to this many distinct whole numbers are classes whatever their counts
MIN_CLASS_EXAMPLES = 10  # a whole-number value seen fewer times than this is too rare to learn as a class
RARE_SHARE = 0.01  # ... and when such values hold more than this share of the rows, the target is a quantity


def infer_task(targets: np.ndarray) -> str:
    """multilabel, binary, multiclass or regression, read off the targets (task_and_reason)."""
    return task_and_reason(targets)[0]


def task_and_reason(targets: np.ndarray, factorized: tuple | None = None) -> tuple[str, str]:
    """(task, why) for data.task=auto. Several targets per example: multilabel. Strings and
    booleans are classes. Numbers with fractions are a quantity: regression. Whole numbers
    are classes when they are few (<= FEW_CODES), or up to MAX_CLASSES_INFERRED when nearly
    every example has a value seen often enough to learn it; otherwise they are a count or a measure (27 values
    of miles per gallon are not 27 classes). Missing targets are left out of the judgement.
    `factorized`: pandas.factorize(targets) when the caller has it (TargetCodes)."""
    if targets.ndim == 2:
        return "multilabel", f"{targets.shape[1]} target columns per example"
    if factorized is not None and not (np.issubdtype(targets.dtype, np.number) or targets.dtype == bool):
        k = len(factorized[1])  # the distinct present values: factorize leaves missing ones out
        return ("binary" if k == 2 else "multiclass"), f"{k} distinct values that are not numbers"
    present = targets[~missing_targets(targets)] if len(targets) else targets
    values, counts = distinct(present) if len(present) else (present, present)
    k = len(values)
    if not (np.issubdtype(targets.dtype, np.number) or targets.dtype == bool):
        return ("binary" if k == 2 else "multiclass"), f"{k} distinct values that are not numbers"
    if targets.dtype == bool or k <= 2:
        return "binary", f"{k} distinct values" if k == 2 else f"{k} distinct value"
    if not np.issubdtype(targets.dtype, np.integer) and np.any(np.mod(values.astype(float), 1) != 0):
        return "regression", "numbers with fractions"
    if k > MAX_CLASSES_INFERRED:
        return "regression", f"{k} distinct whole numbers (more than {MAX_CLASSES_INFERRED}: a count or a measure)"
    rare = counts < MIN_CLASS_EXAMPLES
    share = counts[rare].sum() / max(len(present), 1)
    # A handful of codes (cylinders, a 1-5 rating) stays classes even with a rare one (the checks
    # ask "are these classes?" of a regression target that few).
    if k > FEW_CODES and share > RARE_SHARE:
        return "regression", (
            f"{k} distinct whole numbers, {int(rare.sum())} of them with fewer than {MIN_CLASS_EXAMPLES} "
            f"examples ({share:.0%} of the rows): too rare to learn as classes"
        )
    if k <= FEW_CODES:
        return "multiclass", f"{k} distinct whole numbers: few enough to be class codes"
    return "multiclass", f"{k} distinct whole numbers, nearly every row's frequent enough to be a class"


def factorized_labels(targets: np.ndarray) -> tuple | None:
    """pandas.factorize of text labels (codes, distinct values; code -1 = missing), computed once
    by the data module for task_and_reason and encode_targets: hashing a million str objects is
    most of what labels cost. None for numbers, which are cheap to read as they are."""
    if targets.ndim != 1 or np.issubdtype(targets.dtype, np.number) or targets.dtype == bool:
        return None
    import pandas as pd

    return pd.factorize(targets, use_na_sentinel=True)


def missing_targets(targets: np.ndarray, factorized: tuple | None = None) -> np.ndarray:
    if factorized is not None:
        return factorized[0] < 0
    if np.issubdtype(targets.dtype, np.floating):
        return np.isnan(targets)
    if targets.dtype == object:  # None or NaN; pandas' check is vectorized (a million labels, no loop)
        import pandas as pd

        return pd.isna(targets)
    return np.zeros(len(targets), dtype=bool)


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_counts=True), by hashing: sorting a million str objects costs
    seconds, hashing them a tenth of that, and only the few distinct values are sorted."""
    import pandas as pd

    codes, uniques = pd.factorize(values)
    counts = np.bincount(codes, minlength=len(uniques))
    order = np.argsort(np.asarray(uniques), kind="stable")
    return np.asarray(uniques)[order], counts[order]


def class_ids(targets: np.ndarray, train: np.ndarray, factorized: tuple | None = None):
    """(class id per example, -1 for a class train lacks; the sorted train classes; keys()).
    Classes are whole numbers or texts; one hash pass over the targets (pandas.factorize), then
    only the few distinct values are converted and sorted: a million string labels cost
    neither a million Python lookups nor a sort of a million strings."""
    import pandas as pd

    numeric = np.issubdtype(targets.dtype, np.number)
    if factorized is not None and not numeric:
        codes, uniques = factorized
    else:
        codes, uniques = pd.factorize(targets.astype(np.int64) if numeric else targets)
    uniques = np.asarray(uniques).astype(np.int64) if numeric else np.array([str(u) for u in uniques])
    merge, merged = pd.factorize(uniques)  # 7 and "7" are one class, as their text is
    if len(merged) < len(uniques):  # (nearly always nothing merges: no pass over every example)
        codes = merge[codes]
    uniques = np.asarray(merged)
    in_train = np.bincount(codes[train], minlength=len(uniques)) > 0
    classes = np.sort(uniques[in_train])
    lookup = np.full(len(uniques), -1, dtype=np.int64)
    lookup[in_train] = np.searchsorted(classes, uniques[in_train])
    return lookup[codes], classes, lambda: uniques[codes]  # keys(): only for the error message


def unseen_class_message(keys: np.ndarray, unseen: np.ndarray, split: str) -> str:
    """Why a class of `split` never reached train. A class with a handful of examples in all the
    data needs more of them (another split_seed only moves the problem to another class)."""
    counts = {c: int((keys == c).sum()) for c in unseen[:5].tolist()}
    rare = {c: n for c, n in counts.items() if n < MIN_CLASS_EXAMPLES}
    if rare:
        shown = ", ".join(f"{c!r} has {n} example{'s' * (n != 1)}" for c, n in rare.items())
        return (
            f"class(es) {list(counts)} occur in {split} but never in train, and {shown} in all the data: a class "
            f"needs at least {MIN_CLASS_EXAMPLES} examples to be learned and scored (train, train_dev, dev and "
            "test each take some); collect more examples of it, or drop its rows"
        )
    return (
        f"class(es) {list(counts)} occur in {split} but never in train: the model cannot learn "
        "them; collect train examples of them or drop those rows (or change data.split_seed)"
    )


def encode_labels(targets: np.ndarray, declared: list | None) -> tuple[torch.Tensor, list[str]]:
    """(float [N, L] of 0/1/NaN, label names) for multilabel: -1 and NaN both mean missing."""
    if targets.ndim != 2:
        raise ConfigError(
            f"data.task=multilabel needs targets of shape [N, labels], got {list(targets.shape)}; "
            "give one 0/1 column per label (NaN or -1 where a label is unknown)"
        )
    try:
        y = targets.astype(np.float32)
    except (TypeError, ValueError):
        raise ConfigError("multilabel targets must be numbers: 0, 1, or NaN / -1 for a missing label") from None
    y[y == -1] = np.nan
    known = y[~np.isnan(y)]
    bad = known[(known != 0) & (known != 1)]
    if len(bad):
        raise ConfigError(
            f"multilabel targets must be 0, 1, or NaN / -1 for a missing label; found {bad[0]:g}; "
            "for class ids use data.task=multiclass"
        )
    names = [str(n) for n in declared] if declared is not None else [f"label_{j}" for j in range(y.shape[1])]
    if len(names) != y.shape[1]:
        raise ConfigError(
            f"the source names {len(names)} labels ({names[:5]}) but the targets have {y.shape[1]} columns; "
            "give one name per label column"
        )
    return torch.from_numpy(y), names


def one_target_each(kind: str, targets: np.ndarray, factorized=None) -> None:
    """A ConfigError unless there is exactly one target per example and none is missing."""
    if targets.ndim != 1:
        raise ConfigError(
            f"data.task={kind} takes one target per example, but the targets have shape {list(targets.shape)}; "
            "for several 0/1 labels per example use data.task=multilabel (or auto)"
        )
    missing = missing_targets(targets, factorized)
    if missing.any():
        raise ConfigError(
            f"{int(missing.sum())} example(s) have no target (e.g. example {int(np.flatnonzero(missing)[0])}); drop or label them"
        )


def encode_values(kind: str, targets: np.ndarray, factorized=None) -> tuple[torch.Tensor, None]:
    """(float values, no names): one real-valued target per example."""
    one_target_each(kind, targets, factorized)
    try:
        return torch.as_tensor(targets.astype(np.float32)), None
    except ValueError:
        raise ConfigError(
            f"data.task={kind} but the targets are not numbers; use data.task=multiclass (or auto)"
        ) from None


def encode_classes(
    kind: str, targets: np.ndarray, declared: list | None, train: np.ndarray, splits: dict, factorized=None
) -> tuple[torch.Tensor, list[str]]:
    """(class ids 0..C-1, class names). Names come from the source when it declares them, else
    from the train targets (sorted): a class that only dev or test has cannot be learned, so it
    is an error. `factorized`: factorized_labels(targets), when the caller has it."""
    one_target_each(kind, targets, factorized)
    if declared is not None:
        names = [str(n) for n in declared]
        numeric = np.issubdtype(targets.dtype, np.number)
        if not numeric:  # string targets that the source also named: map by name
            lookup = {n: i for i, n in enumerate(names)}
            unknown = sorted({str(t) for t in targets} - set(lookup))
            if unknown:
                raise ConfigError(f"target value(s) {unknown[:5]} are not among the source's class_names {names[:10]}")
            ids = np.array([lookup[str(t)] for t in targets], dtype=np.int64)
        else:
            if np.any(np.mod(targets, 1) != 0):
                raise ConfigError(
                    "class targets must be whole numbers (class ids); for real-valued targets set data.task=regression"
                )
            ids = targets.astype(np.int64)
            outside = (ids < 0) | (ids >= len(names))
            if outside.any():
                raise ConfigError(
                    f"{int(outside.sum())} target(s) outside the source's {len(names)} classes 0..{len(names) - 1} "
                    f"(e.g. {sorted(set(ids[outside].tolist()))[:5]}); fix the labels or the source's class_names"
                )
    else:
        if np.issubdtype(targets.dtype, np.floating) and np.any(np.mod(targets, 1) != 0):
            raise ConfigError(
                f"data.task={kind} but the targets have fractions (e.g. {targets[np.mod(targets, 1) != 0][0]}); "
                "use data.task=regression, or give class ids or names"
            )
        ids, classes, keys = class_ids(targets, train, factorized)
        for split, index in splits.items():
            lacking = index[ids[index] < 0]
            if len(lacking):
                raise ConfigError(unseen_class_message(keys(), np.unique(keys()[lacking]), split))
        names = [str(c) for c in classes.tolist()]
    if len(names) < 2:
        raise ConfigError(f"the target has a single class ({names}); a classifier needs at least two")
    return torch.from_numpy(ids), names


def said_task(task: str, why: str, column: str | None) -> str | None:
    """The line data.task=auto prints: what it read the targets as, why, and the key that overrides it."""
    if task == "multilabel":  # several target columns: nothing else fits, nothing to override
        return None
    others = "|".join(k for k in ("binary", "multiclass", "regression") if k != task)
    return f"task: {task} ({f'data.target={column!r}: ' if column else ''}{why}); data.task={others} overrides it"
