"""Data quality beyond exact equality (M4, M9, M31, M33): near-duplicates across splits,
likely label errors, and how train and dev differ. The maths, as functions over arrays,
and the few that read the data interface (interface.DataInterface) to feed them.

  near_duplicates(reference, queries)   queries lying very close to a reference (train) example:
                                        closer than `ratio` x the typical nearest-neighbour
                                        distance within the reference
  label_issues(labels, probs)           examples whose given label is likely wrong, from
                                        out-of-sample probabilities (cleanlab)
  cross_validated_probs(x, y)           out-of-sample probabilities for train: k-fold logistic
                                        regression on the inputs (train's own model has seen
                                        its labels, so its probabilities are not out-of-sample)
  domain_classifier(train, dev)         can a classifier tell train from dev inputs? Held-out
                                        AUC with a bootstrap interval, and the features that
                                        separate them most
  embeddings(model, loader)             what the net's last layer sees: its penultimate layer
  bounded_sample, pair_rows, find_label_issues, mismatch_evidence, embedded_sample: the
                                        same, fed through the data interface (bounded samples,
                                        example names)

Everything is bounded: at most a given number of examples per split (a seeded sample
beyond), at most `max_dims` input dimensions (PCA beyond). Nothing here reads the test
split: the callers pass train, train_dev and dev only.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import warnings

import numpy as np
import torch

QUERY_SPLITS = ("train_dev", "dev")  # compared with train; test stays in the vault


def flat(x) -> np.ndarray:
    """[N, ...] tensor or array -> [N, D] float32 array."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)


def bounded_sample(datamodule, split: str, n: int, seed: int = 0, max_values: int = 10**8):
    """DataInterface.sample of at most n examples, and at most `max_values` input values in all
    (400 MB of float32): wide inputs (large images) get fewer examples, never all of memory."""
    width = max(1, math.prod(datamodule.spec.input_shape))
    return datamodule.sample(split, max(2, min(int(n), max_values // width)), seed=seed)


def reduce_dims(reference: np.ndarray, others: list[np.ndarray], max_dims: int, seed: int = 0):
    """PCA to `max_dims` components, fitted on the reference, when the inputs are wider: the
    distances that matter (near ~0, typical) survive, the cost stops growing with pixels."""
    if reference.shape[1] <= max_dims or len(reference) <= max_dims:
        return reference, others, None
    from sklearn.decomposition import PCA

    pca = PCA(n_components=max_dims, svd_solver="randomized", random_state=seed).fit(reference)
    return pca.transform(reference), [pca.transform(o) for o in others], pca


# --------------------------------------------------------------------------- exact copies
WIDE = 256  # inputs wider than this (images) are not searched for one-value-off neighbours


def copy_rates(rows: np.ndarray, reference_size: int, seed: int = 0) -> dict:
    """What random splitting of this data gives: how often an example has an exact copy among
    `reference_size` other examples of the same sample (rows: [N, D] train inputs).

    `copies`: the share of queries with an exact copy; `one_off`: the share with a neighbour
    equal in every value but one. Rows that repeat by nature (a few coarse columns) come
    within one value of each other at least as often as they repeat; copies with no such
    neighbours are records repeated in the source, not the feature space's doing. So the
    natural rate is the smaller of the two. Inputs wider than WIDE values: 0 (a photo does
    not repeat pixel for pixel by chance)."""
    rows = flat(rows)
    n = len(rows)
    if n < 2:
        return {"copies": 0.0, "one_off": 0.0, "natural": 0.0, "trials": 0}
    order = np.random.default_rng(seed).permutation(n)
    if reference_size >= n - 1:  # leave one out: every example against all the others
        ref, query = order, order
    else:
        ref, query = order[:reference_size], order[reference_size:]
    bits, weights, full = _row_hashes(rows, seed)
    copies = _has_copy(full, None, ref, query)
    one_off = np.zeros(len(query), bool)
    if rows.shape[1] <= WIDE:
        with np.errstate(over="ignore"):
            for j in range(rows.shape[1]):
                one_off |= _has_copy(full - bits[:, j] * weights[j], bits[:, j], ref, query)
    rate = {"copies": float(copies.mean()), "one_off": float(one_off.mean())}
    if rows.shape[1] > WIDE:
        rate["one_off"] = 0.0
    return {**rate, "natural": min(rate.values()), "trials": len(query)}


def _row_hashes(rows: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bits [N, D], weights [D], hash [N]): each row's hash is a random weighted sum of its
    values' bit patterns (mod 2^64), so the hash of a row without column j is one subtraction
    away; two different rows share a hash with chance ~2^-64."""
    bits = np.ascontiguousarray(rows, dtype=np.float32).view(np.uint32).astype(np.uint64)
    weights = np.random.default_rng(seed).integers(1, 2**63, bits.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        return bits, weights, (bits * weights).sum(1, dtype=np.uint64)


def _has_copy(key: np.ndarray, value: np.ndarray | None, ref: np.ndarray, query: np.ndarray) -> np.ndarray:
    """[len(query)] bool: another example of `ref` has the query's key (a row hash), and, with
    `value` given, a value other than the query's (equal in all columns but that one)."""
    group = np.unique(key, return_inverse=True)[1].ravel()
    size = group.max() + 1
    if value is None:  # a copy: another member of ref in the query's group
        return np.bincount(group[ref], minlength=size)[group[query]] - np.isin(query, ref) > 0
    pairs = np.unique(group[ref].astype(np.uint64) << np.uint64(32) | value[ref])  # distinct (group, value) in ref
    distinct = np.bincount((pairs >> np.uint64(32)).astype(np.int64), minlength=size)
    one = np.zeros(size, np.uint64)
    one[(pairs >> np.uint64(32)).astype(np.int64)] = pairs & np.uint64(0xFFFFFFFF)  # used where it is the only one
    g = group[query]
    return (distinct[g] >= 2) | ((distinct[g] == 1) & (one[g] != value[query]))


def judge_copies(shared: int, n: int, natural: float, trials: int, alpha: float = 1e-3) -> dict:
    """Copies of reference examples among n queries against the natural rate (smoothed: a
    rate of 0 in `trials` examples is not proof of 0). `p_value`: the chance of at least this
    many at that rate; `excess`: the share of queries beyond the expected; `band`: 1/sqrt(n),
    two standard errors of a dev accuracy: an excess that large moves dev beyond its noise."""
    from scipy.stats import binom

    rate = (natural * trials + 1) / (trials + 2)
    expected = rate * n
    p_value = float(binom.sf(shared - 1, n, rate)) if shared else 1.0
    return {
        "shared": shared,
        "n": n,
        "expected": round(expected, 2),
        "natural_rate": rate,
        "p_value": p_value,
        "excess": max(shared - expected, 0.0) / max(n, 1),
        "band": 1 / math.sqrt(max(n, 1)),
        "above_chance": p_value < alpha,
    }


def conflicting_copies(hashes: list, labels: list) -> dict:
    """Exact copies with different labels, over the splits given (hashes and labels in step):
    no model can get them all right. `examples` in such groups; `error_floor`: the share of
    all examples wrong even when each group gets its most common label (irreducible error)."""
    groups: dict = {}
    for h, y in zip(hashes, labels):
        groups.setdefault(h, []).append(y)
    examples, floor = 0, 0
    for ys in groups.values():
        if len(ys) > 1 and len(set(ys)) > 1:
            examples += len(ys)
            floor += len(ys) - max(ys.count(v) for v in set(ys))
    return {"examples": examples, "error_floor": floor / max(len(hashes), 1), "of": len(hashes)}


# --------------------------------------------------------------------------- near-duplicates
@dataclasses.dataclass
class Neighbours:
    """For each query example: its nearest reference example and how close it is."""

    distance: np.ndarray  # [M] Euclidean, in the standardized input (or embedding) space
    nearest: np.ndarray  # [M] position of the nearest example in the reference
    typical: float  # median distance of a reference example to its nearest other one
    threshold: float  # ratio x typical: at or below it, a query is a near-duplicate
    second: np.ndarray | None = None  # [M] distance to the second nearest reference example
    dimension: float = math.inf  # the reference's intrinsic dimension (intrinsic_dimension)

    @property
    def flagged(self) -> np.ndarray:
        return self.distance <= self.threshold

    @property
    def chance(self) -> np.ndarray:
        """[M] the chance that a query which is no copy lies within the threshold of a train
        example all the same: (threshold / second distance) ** dimension (see intrinsic_dimension).
        Ties with the second neighbour (a coarse grid) make it 1."""
        if self.second is None or self.threshold < 0:
            return np.zeros(len(self.distance))
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (self.threshold / self.second) ** self.dimension
        return np.where(self.second > 0, np.minimum(np.nan_to_num(p, nan=1.0), 1.0), 1.0)

    @property
    def ratio(self) -> np.ndarray:
        """Each distance in units of the typical one (0 = an exact copy)."""
        return self.distance / self.typical if self.typical > 0 else np.where(self.distance > 0, np.inf, 0.0)


def near_duplicates(
    reference, queries: dict, ratio: float = 0.1, max_dims: int = 256, typical_sample: int = 2000, seed: int = 0
) -> dict[str, Neighbours]:
    """Nearest reference example of every query (split name -> [M, D] array).

    "Close" is relative to the data: `ratio` x the median nearest-neighbour distance within
    the reference (estimated on a sample of `typical_sample` of its examples), so the same
    setting works for pixels and for table rows. Data whose examples are merely similar
    (digits, tables) sit at 0.3-1x that distance; a re-encoded copy sits near 0.
    """
    from sklearn.neighbors import NearestNeighbors

    names = list(queries)
    reference, reduced, _ = reduce_dims(flat(reference), [flat(queries[n]) for n in names], max_dims, seed)
    index = NearestNeighbors(n_neighbors=2).fit(reference)
    dimension = math.inf
    if len(reference) > 1:
        rng = np.random.default_rng(seed)
        some = rng.choice(len(reference), min(typical_sample, len(reference)), replace=False)
        within = index.kneighbors(reference[some], min(4, len(reference)))[0]  # [:, 0] is the example itself
        typical = float(np.median(within[:, 1]))
        dimension = intrinsic_dimension(within[:, 1:])
    else:
        typical = float("nan")
    threshold = ratio * typical if np.isfinite(typical) else -1.0  # one train example: nothing to compare with
    found = {}
    for name, q in zip(names, reduced):
        if len(q) == 0:
            found[name] = Neighbours(np.zeros(0), np.zeros(0, dtype=np.int64), typical, threshold, np.zeros(0))
            continue
        distance, nearest = index.kneighbors(q, min(2, len(reference)))
        second = distance[:, 1] if distance.shape[1] > 1 else np.full(len(q), np.inf)
        found[name] = Neighbours(distance[:, 0], nearest[:, 0], typical, threshold, second, dimension)
    return found


def intrinsic_dimension(neighbours: np.ndarray) -> float:
    """The dimension d the data fills near its examples, from [N, 3] distances to the 1st..3rd
    nearest other examples, by maximum likelihood on the 2nd/3rd ratios: around an example,
    points scattered in d dimensions put the 2nd within u x the 3rd with chance u^(2d).

    The 1st neighbour is left out on purpose: a planted copy is someone's 1st neighbour, so
    copies cannot make the data look low-dimensional. Then a query that is no copy lies within
    u x its 2nd neighbour's distance of its 1st with chance u^d: barley's yields, one number
    per variety and year, tie by chance (d ~ 1); the digits' 64 pixels almost never do."""
    if neighbours.shape[1] < 3:
        return math.inf
    r2, r3 = neighbours[:, 1], neighbours[:, 2]
    ok = (r2 > 0) & (r3 > 0)
    logs = np.log(r2[ok] / r3[ok])
    if not len(logs) or logs.sum() >= 0:
        return math.inf
    return float(-len(logs) / (2 * logs.sum()))


def pair_rows(dm, reference: tuple, queries: dict, found: dict) -> list[dict]:
    """One row per near-duplicate pair, closest first, both examples by index, name and label:
    `reference` and each of `queries` are (x, y, index) as DataInterface.sample gives them,
    `found` what near_duplicates made of them."""
    from ..tasks import make_task

    names = functools.partial(
        make_task(dm.spec.task, dm.spec.num_classes).describe_target, class_name=dm.spec.class_name
    )
    rows = []
    for split, (_, y, index) in queries.items():
        f = found[split]
        for k in f.flagged.nonzero()[0]:
            t = int(f.nearest[k])
            rows.append(
                {
                    "split": split,
                    "index": int(index[k]),
                    "label": names(y[k]),
                    "train_index": int(reference[2][t]),
                    "train_label": names(reference[1][t]),
                    "distance": round(float(f.distance[k]), 6),
                    "ratio": round(float(f.ratio[k]), 4),
                }
            )
    rows.sort(key=lambda r: r["ratio"])
    described = dm.describe([r["index"] for r in rows] + [r["train_index"] for r in rows])
    for r, a, b in zip(rows, described[: len(rows)], described[len(rows) :]):
        r["example"], r["train_example"] = a["example"], b["example"]
    return rows


def spread_floor(datamodule, min_spread: float = 0.05) -> np.ndarray | None:
    """[D] factors that take a table's standardized features to units of max(std, min_spread x
    the feature's magnitude): a feature that barely varies in train (a year column of 1931 and
    1932) would otherwise turn a faint re-encoding noise into several standard deviations and
    rule the distance. None for images (per-channel statistics) or unstandardized data."""
    std, mean = datamodule.standardizer.std, datamodule.standardizer.mean
    if std is None or mean is None or std.ndim != 1 or len(datamodule.spec.input_shape) != 1:
        return None
    std, mean = std.double().numpy(), mean.double().numpy()
    magnitude = np.sqrt(mean**2 + std**2)
    return (std / np.maximum(std, min_spread * magnitude)).astype(np.float32)


# --------------------------------------------------------------------------- label issues
def cross_validated_probs(x, y, folds: int = 5, max_dims: int = 256, seed: int = 0) -> np.ndarray | None:
    """[N, C] class probabilities for each example from a model that never saw it: k-fold
    logistic regression on the (standardized) inputs. None when a class has fewer than two
    examples (no fold could hold it out and learn it)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = flat(x), np.asarray(y).astype(np.int64)
    counts = np.bincount(y)
    present = counts[counts > 0]
    folds = int(min(folds, present.min()))
    if folds < 2 or len(present) < 2:
        return None
    x, _, _ = reduce_dims(x, [], max_dims, seed)
    model = LogisticRegression(C=0.1, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs convergence notes on hard folds: the probabilities stay usable
        probs = cross_val_predict(
            model, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed), method="predict_proba"
        )
    full = np.zeros((len(y), len(counts)))  # classes absent from this sample get probability 0
    full[:, np.flatnonzero(counts)] = probs
    return full


def label_issues(labels, probs) -> dict:
    """Positions whose given label is likely wrong, most likely first (cleanlab's confident
    learning: an example is suspect where the out-of-sample probability of another class
    beats that class's own per-class confidence threshold, as many as the estimated noise
    rates say). With each one's suggested label (the most probable class) and label quality
    (probability of the given label); `ranking`: every position, least quality first."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels, probs = np.asarray(labels).astype(np.int64), np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(1, keepdims=True).clip(1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few examples in class k": small splits, said in the report
        ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
        quality = get_label_quality_scores(labels, probs, method="self_confidence")
    ranked = np.asarray(ranked, dtype=np.int64)
    return {
        "position": ranked,
        "suggested": probs[ranked].argmax(1),
        "quality": quality[ranked],
        "n": len(labels),
        "ranking": np.argsort(quality, kind="stable"),
    }


MIN_LABEL_EXAMPLES = 10  # below this, confident learning's per-class thresholds are noise


def unusable_labels(labels, min_examples: int = MIN_LABEL_EXAMPLES) -> str | None:
    """Why a split's labels cannot be judged (cleanlab raises on one class), or None."""
    labels = np.asarray(labels).astype(np.int64)
    if len(labels) < min_examples:
        return f"{len(labels)} examples: too few to judge labels (at least {min_examples})"
    present = np.unique(labels)
    if len(present) < 2:
        return f"all {len(labels)} examples have class {int(present[0])}: no other class to mistake it for"
    return None


def find_label_issues(
    datamodule, predictions: dict, task, max_train: int = 20000, seed: int = 0, skipped: dict | None = None
) -> dict:
    """Label issues of train, train_dev and dev: split -> {index (dataset indices, most likely
    wrong first), given, suggested (class ids), quality, n, method}. For tasks with one class
    per example (task.single_label). A split too small or of one class is left out, with the
    reason in `skipped` (split -> why) when given.

    train: cross-validated probabilities (train's model learnt its labels, wrong ones too);
    train_dev, dev: the trained model's, `predictions[split]` (inference.Predictions): it
    never trained on them."""
    found, skipped = {}, {} if skipped is None else skipped
    x, y, index = bounded_sample(datamodule, "train", max_train, seed)
    skipped["train"] = unusable_labels(y.numpy())
    probs = None if skipped["train"] else cross_validated_probs(x, y, seed=seed)
    if probs is not None:
        found["train"] = _issues(y.numpy(), probs, index.numpy(), "5-fold logistic regression on the inputs")
    elif not skipped["train"]:
        skipped["train"] = "a class has a single example: no fold can hold it out and still learn it"
    for split in QUERY_SPLITS:
        p = predictions.get(split)
        skipped[split] = "no predictions" if p is None else unusable_labels(p.y.numpy())
        if not skipped[split]:
            found[split] = _issues(
                p.y.numpy(), task.probabilities(p.out.float()).numpy(), p.index.numpy(), "the trained model"
            )
    for split in [s for s, why in skipped.items() if not why]:
        del skipped[split]
    return found


def _issues(labels: np.ndarray, probs: np.ndarray, index: np.ndarray, method: str) -> dict:
    issues = label_issues(labels, probs)
    pos = issues["position"]
    return {
        "index": index[pos],
        "given": labels[pos].astype(np.int64),
        "suggested": issues["suggested"],
        "quality": issues["quality"],
        "n": issues["n"],
        "method": method,
        **judge_flags(labels, probs, pos),
    }


def expected_flags(probs: np.ndarray, draws: int = 3, seed: int = 0) -> float:
    """How many examples confident learning flags when every label is drawn from the model's own
    probabilities: what its uncertainty alone produces, with no label wrong beyond it."""
    rng = np.random.default_rng(seed)
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(1, keepdims=True).clip(1e-12)
    counts = []
    for _ in range(draws):
        drawn = (probs.cumsum(1) < rng.random((len(probs), 1))).sum(1).clip(0, probs.shape[1] - 1)
        if len(np.unique(drawn)) < 2:
            counts.append(0)
            continue
        counts.append(len(label_issues(drawn, probs)["position"]))
    return float(np.mean(counts))


def judge_flags(labels: np.ndarray, probs: np.ndarray, flagged: np.ndarray) -> dict:
    """Whether the model behind the flags is good enough to call them label errors: it is mostly
    right where it does not contest a label (its error on the other examples below the flagged
    share), and where it contests one it is sure (the flagged labels' median probability
    at most 0.1). Noisy-by-nature data (identical inputs, different labels) gives many flags the
    model is unsure of: those are hard examples, not proven label errors. `expected`: the flags
    its uncertainty alone gives (labels drawn from its own probabilities), beside the count."""
    probs = np.asarray(probs, dtype=np.float64)
    expected = expected_flags(probs)
    wrong = probs.argmax(1) != labels
    outside = np.ones(len(labels), bool)
    outside[flagged] = False
    residual = float(wrong[outside].mean()) if outside.any() else 0.0
    share = len(flagged) / max(len(labels), 1)
    given = probs[flagged, labels[flagged]] / probs[flagged].sum(1).clip(1e-12) if len(flagged) else np.ones(1)
    judged = bool(len(flagged)) and residual <= share and float(np.median(given)) <= 0.1
    return {
        "expected": round(expected, 1),
        "residual_error": round(residual, 4),
        "median_label_probability": round(float(np.median(given)), 4),
        "judged": judged,
    }


# --------------------------------------------------------------------------- train vs dev
# long: a third of it is the docstring that says how to read the AUC and the drift; the body is one fit and its bootstrap
def domain_classifier(
    train,
    dev,
    holdout: float = 0.5,
    resamples: int = 400,
    min_auc: float = 0.7,
    max_dims: int = 256,
    drift_sample: int = 2000,
    seed: int = 0,
) -> dict:
    """How well a classifier tells dev inputs from train inputs.

    Logistic regression fitted on one half of the pooled examples, scored on the other half:
    a model that never saw the examples it scores has AUC 0.5 in expectation when the two
    share one distribution, so the bootstrap interval of the held-out AUC is honest (a
    cross-validated AUC is not: its folds' models share examples). Verdict: "shift" when the
    95% interval lies above 0.5 and the AUC reaches `min_auc`; "slight shift" when only the
    first holds (about 1 in 40 random splits gets there by chance: a small dev set can
    differ from train by the luck of the draw); else "no detectable shift".
    Per input dimension, what differs: `drift`, the two-sample Kolmogorov-Smirnov statistic
    (0 = the same distribution, 1 = disjoint; any kind of difference, not only the mean),
    `mean_difference`, dev mean - train mean (inputs are standardized on train, so in train
    standard deviations), and `weight`, the classifier's |weight| (conditional on the other
    dimensions: two correlated features can share or trade it).
    """
    from scipy.stats import bootstrap, ks_2samp
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    train, dev = flat(train), flat(dev)
    x = np.concatenate([train, dev])
    is_dev = np.r_[np.zeros(len(train)), np.ones(len(dev))]
    reduced, _, pca = reduce_dims(x, [], max_dims, seed)
    fit_x, held_x, fit_y, held_y = train_test_split(
        reduced, is_dev, test_size=holdout, stratify=is_dev, random_state=seed
    )
    model = LogisticRegression(C=0.1, max_iter=1000, class_weight="balanced")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(fit_x, fit_y)
    score = model.decision_function(held_x)
    auc = float(roc_auc_score(held_y, score))
    rng = np.random.default_rng(seed)
    ci = bootstrap(
        (held_y, score),
        roc_auc_score,
        paired=True,
        vectorized=False,
        n_resamples=resamples,
        method="percentile",
        random_state=rng,
    ).confidence_interval
    low, high = float(ci.low), float(ci.high)
    weight = model.coef_[0] if pca is None else pca.components_.T @ model.coef_[0]  # back to input dimensions
    drift = np.nan_to_num(
        ks_2samp(train[:drift_sample], dev[:drift_sample], axis=0).statistic
    )  # samples are random already
    verdict = "no detectable shift" if not low > 0.5 else "shift" if auc >= min_auc else "slight shift"
    return {
        "auc": auc,
        "ci": [low, high],
        "verdict": verdict,
        "n_train": len(train),
        "n_dev": len(dev),
        "held_out": len(held_y),
        "weight": np.abs(weight),
        "drift": drift,
        "mean_difference": dev.mean(0) - train.mean(0),
        "train_mean": train.mean(0),
        "dev_mean": dev.mean(0),
    }


def mismatch_evidence(datamodule, max_examples: int = 4096, seed: int = 0, top: int = 5, **kwargs) -> dict:
    """domain_classifier on train vs dev (never test), as plain data: auc, ci, verdict, sizes,
    and the `top` dimensions whose distributions differ most (a table's feature names)."""
    train = bounded_sample(datamodule, "train", max_examples, seed)[0]
    dev = bounded_sample(datamodule, "dev", max_examples, seed)[0]
    found = domain_classifier(train, dev, seed=seed, **kwargs)
    names = datamodule.spec.feature_names or [f"x{j}" for j in range(len(found["weight"]))]
    order = np.argsort(-found["drift"], kind="stable")[:top]
    found["top_features"] = [
        {
            "feature": names[j] if j < len(names) else f"x{j}",
            "drift": round(float(found["drift"][j]), 4),
            "dev_minus_train": round(float(found["mean_difference"][j]), 4),
            "weight": round(float(found["weight"][j]), 4),
        }
        for j in order
    ]
    found["input_shape"] = list(datamodule.spec.input_shape)
    return found


# --------------------------------------------------------------------------- embeddings
@torch.no_grad()
def embeddings(model, loader) -> tuple[np.ndarray, np.ndarray] | None:
    """([N, H] inputs of the net's output layer, [N] example indices) over a loader; None when
    the net has no Linear/Conv output layer to hook."""
    from ..model.initialization import output_layer

    net = getattr(model, "net", model)
    batches = iter(loader)
    first = next(batches, None)
    if first is None:
        return None
    device = next(net.parameters()).device
    layer = output_layer(net, first[0][:2].to(device))[1]  # found by data flow: a forward pass shows which runs last
    if layer is None:
        return None
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach().float().cpu()))
    was_training = net.training
    net.eval()
    indices = []
    try:
        for x, _, index in itertools.chain([first], batches):
            net(x.to(device))
            indices.append(index)
    finally:
        hook.remove()
        net.train(was_training)
    if not seen:
        return None
    return flat(torch.cat(seen)), torch.cat(indices).numpy()


def embedded_sample(model, datamodule, split: str, n: int, seed: int = 0):
    """(penultimate-layer embeddings, targets, example indices) of at most n examples of a
    split, the form near_duplicates and pair_rows take; None when nothing can be hooked.
    One pass of the split's loader (batches: memory stays bounded), then a seeded sample."""
    found = embeddings(model, datamodule.loader(split))
    if found is None:
        return None
    emb, index = found
    y = datamodule.targets(split)  # the unshuffled loader serves the split in this same order
    pick = np.sort(np.random.default_rng(seed).permutation(len(index))[:n])
    return emb[pick], y[torch.from_numpy(pick)], index[pick]
