"""The reference level (M31 without a human figure): the best performance a strong classical
model reaches on this data, the proxy for Bayes error, and the data's own floor.

  fit_reference(datamodule, task, objective)   gradient-boosted trees (scikit-learn's
                                               HistGradientBoosting) for tables, a regularized
                                               linear model on the standardized inputs (PCA-reduced
                                               when wide) for images and other tensors; fitted on
                                               train, scored on train, train_dev and dev with the
                                               run's objective (scoring.split_scores), bounded in rows
  error_floor(datamodule, task)                exact copies of an input with different labels:
                                               the share of train no model can get right

Nothing here reads the test split.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

from ..tasks import Task
from .objective import Objective
from .scoring import split_scores

SPLITS = ("train", "train_dev", "dev")
TREES = "gradient-boosted trees"
LINEAR = "an L2-regularized linear model"


def is_table(datamodule) -> bool:
    return len(tuple(datamodule.spec.input_shape)) == 1 and bool(datamodule.spec.feature_names)


def _model(task: Task, table: bool, seed: int):
    if table:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        # early stopping on an inner 10% of the train sample: never on train_dev or dev
        kind = HistGradientBoostingClassifier if task.classes else HistGradientBoostingRegressor
        return kind(max_iter=CHUNK, early_stopping=True, validation_fraction=0.1, random_state=seed, warm_start=True)
    from sklearn.linear_model import LogisticRegression, Ridge

    return LogisticRegression(C=0.1, max_iter=500) if task.classes else Ridge(alpha=10.0)


CHUNK, MAX_ITER = 10, 100  # boosting rounds added per step, and at most


def _fit(model, x: np.ndarray, y: np.ndarray, budget: float) -> bool:
    """Fit within about `budget` seconds: boosting grows CHUNK rounds at a time (warm start) until
    early stopping, MAX_ITER rounds, or the budget. True when the budget cut it short."""
    start = time.perf_counter()
    model.fit(x, y)
    if not hasattr(model, "warm_start"):
        return False
    while model.n_iter_ >= model.max_iter < MAX_ITER:
        if time.perf_counter() - start > budget:
            return True
        model.max_iter += CHUNK
        model.fit(x, y)
    return False


def _outputs(model, task: Task, x: np.ndarray, num_classes: int) -> torch.Tensor:
    """The reference's predictions as the net's outputs (logits, or standardized values), so the
    one scoring function scores both."""
    if not task.classes:
        return task.standardized(torch.as_tensor(model.predict(x), dtype=torch.float64), torch.float32).reshape(-1, 1)
    probs = np.full((len(x), num_classes), 1e-7)
    probs[:, model.classes_.astype(np.int64)] = model.predict_proba(x).clip(1e-7, 1)
    return task.outputs_from_probabilities(torch.as_tensor(probs, dtype=torch.float32))


def fit_reference(
    datamodule, task: Task, objective: Objective, max_examples: int = 20000, seed: int = 0, budget: float = 20.0
) -> dict:
    """{model, estimator, scores (split -> split_scores), sampled, seconds, cut_short} or {skipped: why}.
    `budget`: seconds the boosting may grow for (a linear model fits once)."""
    from .quality import bounded_sample, flat, reduce_dims

    if task.classes and not task.single_label:
        return {"skipped": f"{task.kind}: no single classical reference is fitted for several labels"}
    start = time.perf_counter()
    table = is_table(datamodule)
    data = {s: bounded_sample(datamodule, s, max_examples, seed) for s in SPLITS}
    x = {s: flat(d[0]) for s, d in data.items()}
    y = {s: d[1] for s, d in data.items()}
    if len(x["train"]) < 10 or (task.classes and len(np.unique(y["train"].numpy())) < 2):
        return {"skipped": f"{len(x['train'])} train examples of one class or too few: no reference to fit"}
    if not table:  # a linear model on pixels: PCA first keeps it within seconds
        x["train"], rest, _ = reduce_dims(x["train"], [x["train_dev"], x["dev"]], 256, seed)
        x["train_dev"], x["dev"] = rest
    model, c = _model(task, table, seed), task.num_classes_or_two if task.classes else 1
    target = y["train"].numpy().astype(np.int64 if task.classes else np.float64).reshape(-1)
    from threadpoolctl import threadpool_limits

    # One thread: at these bounded sizes it is as fast, and OpenMP's thread start-up on a busy
    # machine cost 6 s of a 0.3 s fit (measured, 2 shared cores)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # lbfgs convergence notes: the fit stays usable
        cut_short = _fit(model, x["train"], target, budget)
        outputs = {s: _outputs(model, task, x[s], c) for s in SPLITS if len(x[s])}
    scores = {s: split_scores(task, out, y[s], objective) for s, out in outputs.items()}
    sizes = {s: datamodule.size(s) for s in SPLITS}
    sampled = {s: len(x[s]) for s in SPLITS if len(x[s]) < sizes[s]}
    return {
        "model": TREES if table else LINEAR + " on the standardized inputs",
        "estimator": type(model).__name__,  # scikit-learn's
        "scores": scores,
        "sampled": sampled,  # split -> rows used, where the split is larger (a seeded sample)
        "seconds": round(time.perf_counter() - start, 2),
        "cut_short": cut_short,  # the time budget stopped the boosting before early stopping did
    }


def error_floor(datamodule, task: Task, max_rows: int = 200_000) -> dict | None:
    """Exact copies of a train input with different labels (quality.conflicting_copies): the
    share of train wrong even when each copy group gets its most common label. A lower bound on
    the Bayes error of accuracy. None for targets without classes or several labels, and for a
    train split beyond `max_rows` (hashing every file of a large folder costs minutes)."""
    from .quality import conflicting_copies

    if not task.single_label or datamodule.size("train") > max_rows:
        return None
    labels = [int(v) for v in datamodule.targets("train").reshape(-1).tolist()]
    return conflicting_copies(datamodule.fingerprints("train"), labels)
