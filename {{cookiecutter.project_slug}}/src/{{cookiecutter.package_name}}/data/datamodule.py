"""The recipe's data machinery: four splits, targets to class ids, standardization fitted on
train, and batches. It serves any Source (data/interface.py) through the declared DataInterface:
arrays from a function (user/sources.py), tables (data/tables.py), image folders (data/images.py).

In-memory sources are served by slicing tensors (the fast path: no per-example Python);
file-backed ones through a torch DataLoader with worker processes.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ..common import ConfigError
from ..tasks import IMBALANCE, task_class
from ..tasks.targets import factorized_labels, missing_targets, said_task, task_and_reason
from .interface import DataSpec, Examples, Source

SPLITS = ("train", "train_dev", "dev", "test")


# --------------------------------------------------------------------------- arrays
class ArraySource(Source):
    """A function returning {"x", "y", optional "domain", "class_names", "feature_names"} (user/sources.py)."""

    in_memory, kind = True, "arrays"

    def __init__(self, fn):
        self.fn = fn
        self._x = None

    def load(self) -> Examples:
        raw = self.fn()
        try:
            x = np.asarray(raw["x"], dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"the data source's x is not a numeric array ({e}); return float arrays [N, ...]"
            ) from None
        y = np.asarray(raw["y"])
        if len(x) != len(y):
            raise ConfigError(
                f"the data source returns {len(x)} inputs but {len(y)} targets; give one target per input"
            )
        self._x = torch.from_numpy(np.ascontiguousarray(x))
        self.input_shape = tuple(x.shape[1:])
        self.feature_names = list(raw["feature_names"]) if raw.get("feature_names") is not None else None
        domain = raw.get("domain")
        return Examples(
            y, [str(i) for i in range(len(y))], None if domain is None else np.asarray(domain), raw.get("class_names")
        )

    def features(self) -> torch.Tensor:
        return self._x

    def describe(self, i: int) -> dict:
        """A table's raw feature values by name (images are shown as pictures instead)."""
        if len(self.input_shape) != 1 or self.input_shape[0] > 50:
            return {}
        names = self.feature_names or [f"x{j}" for j in range(self.input_shape[0])]
        return {name: round(float(v), 6) for name, v in zip(names, self._x[i].tolist())}

    def read_new(self, path: str) -> tuple[torch.Tensor, list[str]]:
        x = read_array_file(Path(path), self.input_shape)
        return x, [str(i) for i in range(len(x))]

    def state_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "feature_names": self.feature_names}

    def load_state_dict(self, state: dict) -> None:
        self.input_shape, self.feature_names = tuple(state["input_shape"]), state.get("feature_names")


def read_array_file(path: Path, input_shape: tuple) -> torch.Tensor:
    """[N, *input_shape] float tensor from a .npy or a numeric .csv file, or a one-line ConfigError."""
    if not path.is_file():
        raise ConfigError(f"input={path} does not exist; pass a .npy or .csv file of new examples")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ConfigError(f"input={path} is not a readable .npy array ({e}); save it with numpy.save") from None
    elif path.suffix == ".csv":
        try:
            x = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError:
            try:  # a header row
                x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
            except ValueError as e:
                raise ConfigError(f"input={path}: not a numeric CSV ({e}); one example per row, numbers only") from None
    else:
        raise ConfigError(f"input={path}: unknown file type {path.suffix!r}; use a .npy or .csv file")
    x = np.asarray(x, dtype=np.float32)
    size = math.prod(input_shape)
    if tuple(x.shape) == tuple(input_shape):
        x = x[None]
    elif tuple(x.shape[1:]) != tuple(input_shape):
        if x.ndim >= 2 and math.prod(x.shape[1:]) == size:  # e.g. [N, 64] or [N, 8, 8] for [1, 8, 8]
            x = x.reshape(len(x), *input_shape)
        else:
            raise ConfigError(
                f"input={path} has shape {list(x.shape)}, but the model takes examples of shape {list(input_shape)}; "
                f"pass [N, {', '.join(map(str, input_shape))}] or [N, {size}]"
            )
    if len(x) == 0:
        raise ConfigError(f"input={path} holds no examples; pass at least one row")
    return torch.from_numpy(np.ascontiguousarray(x))


def as_source(source) -> Source:
    if isinstance(source, Source):
        return source
    if callable(source):
        return ArraySource(source)
    raise ConfigError(f"data.source builds {type(source).__name__}, neither a Source nor a function returning arrays")


# --------------------------------------------------------------------------- splits
def resolve_fractions(splits, n: int) -> dict:
    """`auto`: 70/10/10/10-style for small data, 97/1/1/1-style from 100k examples on,
    where 1% is already thousands of examples and the rest is better spent on training.
    `kfold` takes auto's test and train_dev fractions (its dev is one fold: make_fold_splits)."""
    if splits in ("auto", "kfold"):
        return (
            {"train_dev": 0.1, "dev": 0.1, "test": 0.1}
            if n < 100_000
            else {"train_dev": 0.01, "dev": 0.01, "test": 0.01}
        )
    example = "data.splits={train_dev:0.1,dev:0.1,test:0.1}"
    if not hasattr(splits, "keys") or set(splits.keys()) != {"train_dev", "dev", "test"}:
        raise ConfigError(
            f"data.splits={splits} must be auto, kfold, or give train_dev, dev and test (train gets the rest), e.g. {example}"
        )
    fractions = {k: float(splits[k]) for k in ("train_dev", "dev", "test")}
    if any(not 0 < f < 1 for f in fractions.values()) or sum(fractions.values()) >= 1:
        raise ConfigError(
            f"data.splits={fractions}: each fraction must be in (0, 1) and together below 1 (train gets the rest); e.g. {example}"
        )
    return fractions


def make_splits(
    n: int, fractions: dict, seed: int, domain: np.ndarray | None = None, groups: np.ndarray | None = None
) -> dict[str, torch.Tensor]:
    """Disjoint index sets, the same for the same seed and n.

    dev and test are drawn from the target distribution (domain 1) when there is one,
    and train_dev from the training distribution, so that the four splits mean what the
    methodology says they mean. With `groups` ([N] group ids, data.group) whole groups are
    drawn: every example of a group lands in one split.
    """
    if groups is not None:
        return _grouped_splits(np.asarray(groups), fractions, seed, domain)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    if domain is None or not (domain == 1).any():
        n_test, n_dev, n_tdev = (round(fractions[k] * n) for k in ("test", "dev", "train_dev"))
        target, source = order[: n_test + n_dev], order[n_test + n_dev :]
    else:
        in_target = torch.from_numpy(np.asarray(domain) == 1)[order]
        target, source = order[in_target], order[~in_target]
        n_dev = round(len(target) * fractions["dev"] / (fractions["dev"] + fractions["test"]))
        n_test = len(target) - n_dev
        n_tdev = round(fractions["train_dev"] * n)
    idx = {
        "test": target[:n_test],
        "dev": target[n_test : n_test + n_dev],
        "train_dev": source[:n_tdev],
        "train": source[n_tdev:],
    }
    return _sorted_splits(idx, n, fractions, domain)


def _sorted_splits(idx: dict, n: int, fractions: dict, domain, unit: str = "examples") -> dict[str, torch.Tensor]:
    """The index sets in ascending order, or a one-line ConfigError naming the empty ones."""
    empty = [k for k, v in idx.items() if len(v) == 0]
    if empty and unit != "examples":
        raise ConfigError(
            f"split(s) {empty} would be empty with {n} {unit} (data.group keeps each in one split); use a finer "
            "data.group, collect more, or raise their fraction in data.splits"
        )
    if empty:
        needed = next(m for m in range(n + 1, 10**7) if all(round(fractions[k] * m) for k in fractions))
        enough = (
            "" if domain is not None else f": these fractions need at least {needed} examples (dozens to mean much)"
        )
        raise ConfigError(
            f"split(s) {empty} would be empty with {n} examples{enough}; collect more examples, "
            "or raise their fraction in data.splits"
        )
    # Each index set in ascending order: one pass that labels every example with its split, not
    # four sorts (a million examples: a tenth of the time).
    label = np.empty(sum(len(v) for v in idx.values()), dtype=np.int8)
    for k, v in enumerate(idx.values()):
        label[np.asarray(v)] = k
    return {name: torch.from_numpy(np.flatnonzero(label == k)) for k, name in enumerate(idx)}


def _grouped_splits(groups: np.ndarray, fractions: dict, seed: int, domain) -> dict[str, torch.Tensor]:
    """make_splits over whole groups: the groups in a seeded order, each split taking groups
    while it holds fewer examples than its share (so it ends within one group of it)."""
    codes, sizes = group_codes(groups)
    n = len(codes)
    order = torch.randperm(len(sizes), generator=torch.Generator().manual_seed(seed)).numpy()
    shares = {k: fractions[k] for k in ("test", "dev", "train_dev")}
    if domain is None or not (np.asarray(domain) == 1).any():
        bounds = np.cumsum([round(shares[k] * n) for k in shares])
        pieces = _take_groups(order, sizes, bounds)
    else:
        in_target = np.bincount(codes, weights=(np.asarray(domain) == 1).astype(float), minlength=len(sizes))
        mixed = np.flatnonzero((in_target > 0) & (in_target < sizes))
        if len(mixed):
            raise ConfigError(
                f"data.group: {len(mixed)} group(s) hold rows of both data.domain values (e.g. the rows of example "
                f"{int(np.flatnonzero(codes == mixed[0])[0])}); a group must lie in one domain: fix the domain or the group"
            )
        target, source = order[in_target[order] > 0], order[in_target[order] == 0]
        n_target = int(sizes[target].sum())
        n_dev = round(n_target * shares["dev"] / (shares["dev"] + shares["test"]))
        pieces = _take_groups(target, sizes, [n_target - n_dev])
        pieces += _take_groups(source, sizes, [round(shares["train_dev"] * n)])
    split_of_group = np.empty(len(sizes), dtype=np.int8)
    for k, chosen in enumerate(pieces):
        split_of_group[chosen] = k
    rows = split_of_group[codes]
    idx = {name: np.flatnonzero(rows == k) for k, name in enumerate(("test", "dev", "train_dev", "train"))}
    return _sorted_splits(idx, len(sizes), fractions, domain, unit="groups")


def _take_groups(order: np.ndarray, sizes: np.ndarray, bounds) -> list[np.ndarray]:
    """`order` cut into len(bounds) + 1 runs: a group joins the first run whose bound lies beyond
    the examples the groups before it hold."""
    start = np.cumsum(sizes[order]) - sizes[order]
    run = np.searchsorted(np.asarray(bounds), start, side="right")
    return [order[run == k] for k in range(len(bounds) + 1)]


def group_codes(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a code 0..G-1 per example, each group's size)."""
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
    return codes, np.bincount(codes)


def check_folds(splits, folds, fold) -> tuple[int, int | None]:
    """(folds, fold) as whole numbers, or a one-line ConfigError: 2 <= folds, 0 <= fold < folds,
    and a fold only under data.splits=kfold (elsewhere it would silently mean nothing)."""
    try:
        folds = int(folds)
        fold = None if fold is None else int(fold)
    except (TypeError, ValueError):
        raise ConfigError(
            f"data.folds={folds} and data.fold={fold} must be whole numbers, e.g. data.folds=5 data.fold=0"
        ) from None
    if folds < 2:
        raise ConfigError(f"data.folds={folds}: k-fold cross-validation needs at least 2 folds, e.g. data.folds=5")
    if splits != "kfold":
        if fold is not None:
            raise ConfigError(
                f"data.fold={fold} is given but data.splits={splits}: folds exist only with data.splits=kfold; add it or drop data.fold"
            )
        return folds, None
    if fold is None:
        fold = 0
    if not 0 <= fold < folds:
        raise ConfigError(
            f"data.fold={fold} is outside 0..{folds - 1} (data.folds={folds}); every fold: -m data.fold='range({folds})'"
        )
    return folds, fold


def _fold_dev(pool: np.ndarray, folds: int, fold: int, seed: int, labels, groups, where: str) -> np.ndarray:
    """Fold `fold`'s dev: the pool's examples that (Stratified)(Group)KFold gives this fold to hold out."""
    if labels is not None:
        names, ids, counts = np.unique(labels[pool], return_inverse=True, return_counts=True)
        if counts.min() < folds:
            small = int(np.argmin(counts))
            fix = f"use data.folds={counts[small]} or fewer, or" if counts[small] >= 2 else "too few to stratify:"
            raise ConfigError(
                f"data.folds={folds} needs {folds} examples of every class outside the test split{where} (one per "
                f"fold), but class {names[small].item()!r} has {counts[small]}; {fix} collect more examples of it"
            )
        splitter = _fold_splitter(folds, seed, groups, stratified=True).split(
            pool, ids, *_pool_groups(groups, pool, folds)
        )
    else:
        if len(pool) < folds:
            raise ConfigError(
                f"data.folds={folds} but only {len(pool)} examples{where} lie outside the test split; use fewer folds"
            )
        splitter = _fold_splitter(folds, seed, groups, stratified=False).split(
            pool, None, *_pool_groups(groups, pool, folds)
        )
    return pool[list(splitter)[fold][1]]


# long: one k-fold protocol (test held out, dev rotating, train_dev from the fold's pool); a third is the docstring stating it
def make_fold_splits(
    n: int,
    fractions: dict,
    seed: int,
    folds: int,
    fold: int,
    domain: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    batch_size: int | None = None,
    groups: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """k-fold cross-validation (M6): the splits of fold `fold` of `folds`.

    test is make_splits' own test with the same fractions and seed: the same examples for
    every fold and every K, and the same as the holdout's, so k-fold never opens the vault
    wider. The other examples of the target distribution (all of them without a domain)
    rotate over the folds as dev, stratified on `labels` (raw class targets; None: plain
    KFold, for regression). Everything else outside test is this fold's training pool:
    train_dev is drawn from it (stratified, as large as the holdout's), train gets the rest.
    With a domain, the target examples of the other folds are in that pool, so each one is
    dev once and trained on in the other folds. (The holdout keeps target examples for dev
    and test only; if k-fold did too, every fold would train on the same examples, and
    rotating dev would add nothing.) train_dev comes from the pool train comes from, so the
    train_dev -> dev gap is the mismatch left after training on some target examples.
    Folds differ in size by one, so train does too: where it would end in a training batch
    of a single example (BatchNorm cannot train on one), train_dev takes that example.
    With `groups` (data.group) every split takes whole groups: test as make_splits draws
    them, dev by (Stratified)GroupKFold, train_dev by groups drawn in a seeded order.
    """
    from sklearn.model_selection import train_test_split

    test = make_splits(n, fractions, seed, domain, groups)["test"].numpy()
    rest = np.setdiff1d(np.arange(n), test)
    in_target = (
        np.zeros(n, dtype=bool) if domain is None or not (np.asarray(domain) == 1).any() else np.asarray(domain) == 1
    )
    pool = rest[in_target[rest]] if in_target.any() else rest
    where = " of the target distribution (domain 1)" if in_target.any() else ""
    dev = _fold_dev(pool, folds, fold, seed, labels, groups, where)
    trainable = np.setdiff1d(rest, dev)
    n_tdev = round(fractions["train_dev"] * n)
    if groups is not None:  # whole groups, in a seeded order, until train_dev holds its share
        codes, sizes = group_codes(np.asarray(groups)[trainable])
        order = torch.randperm(len(sizes), generator=torch.Generator().manual_seed(seed)).numpy()
        tdev_groups, train_groups = _take_groups(order, sizes, [n_tdev])
        if not len(tdev_groups) or not len(train_groups):
            raise ConfigError(
                f"train or train_dev would be empty with data.folds={folds} and data.group; use fewer folds"
            )
        in_tdev = np.isin(codes, tdev_groups)
        idx = {"test": test, "dev": dev, "train_dev": trainable[in_tdev], "train": trainable[~in_tdev]}
        return {k: torch.from_numpy(np.sort(v)) for k, v in idx.items()}
    n_tdev += bool(batch_size) and (len(trainable) - n_tdev) % batch_size == 1
    if not 0 < n_tdev < len(trainable):
        raise ConfigError(
            f"train or train_dev would be empty with {n} examples and data.folds={folds}; use fewer folds"
        )
    stratify = None
    if labels is not None:  # where sklearn can: two examples of each class, room for every class on both sides
        _, counts = np.unique(labels[trainable], return_counts=True)
        if counts.min() >= 2 and len(counts) <= min(n_tdev, len(trainable) - n_tdev):
            stratify = labels[trainable]
    train, train_dev = train_test_split(trainable, test_size=n_tdev, random_state=seed, stratify=stratify)
    idx = {"test": test, "dev": dev, "train_dev": train_dev, "train": train}
    return {k: torch.from_numpy(np.sort(v)) for k, v in idx.items()}


def _fold_splitter(folds: int, seed: int, groups, stratified: bool):
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        return (StratifiedKFold if stratified else KFold)(folds, shuffle=True, random_state=seed)
    return (StratifiedGroupKFold if stratified else GroupKFold)(folds, shuffle=True, random_state=seed)


def _pool_groups(groups, pool: np.ndarray, folds: int) -> tuple:
    """() without groups; (the pool's groups,) with them, or a ConfigError: fewer groups than folds."""
    if groups is None:
        return ()
    pooled = np.asarray(groups)[pool]
    if len(np.unique(pooled)) < folds:
        raise ConfigError(
            f"data.folds={folds} but only {len(np.unique(pooled))} groups (data.group) lie outside the test split; "
            "use fewer folds"
        )
    return (pooled,)


# --------------------------------------------------------------------------- standardization
_BLOCK_ROWS = 8192  # rows per block of a table's train statistics: ~6 MB of float64 at 100 columns


class Standardizer:
    """(x - mean) / std with statistics fitted on the train split only (M7).

    Fitting on all data would leak dev/test statistics into training. The statistics are
    saved in every checkpoint (FourSplitDataModule.state_dict) so prediction uses them,
    together with the range of the standardized train inputs: predict.py warns about inputs
    outside what the model saw in training (extrapolation, M35).
    mode: per_feature (tables), per_channel (images), or none.
    """

    def __init__(self, mode: str = "per_feature"):
        if mode not in ("per_feature", "per_channel", "none"):
            raise ConfigError(f"data.standardize={mode!r} is not known; use per_feature, per_channel or none")
        self.mode, self.mean, self.std = mode, None, None
        self.input_range: dict | None = None

    def _dims(self, ndim: int) -> tuple:
        return (0,) if self.mode == "per_feature" or ndim < 3 else (0, *range(2, ndim))

    def fit(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> Standardizer:
        """Statistics of x[rows] (all rows: None)."""
        if x.ndim != 2 or self.mode != "per_feature" or x.dtype != torch.float32:
            return self.fit_batches([x if rows is None else x[rows]])
        return self._fit_table(x.numpy(), None if rows is None else rows.numpy())

    def _fit_table(self, x: np.ndarray, rows: np.ndarray | None) -> Standardizer:
        """fit_batches' statistics for a [N, F] float32 table, in numpy, a block of rows at a time.
        Copying 98% of a million-row matrix, widening it all to float64, then reducing it over
        rows with torch cost 5-10x the read of the file; cache-sized float64 blocks and numpy's
        row reductions cost a fraction of it, with the same float64 sums."""
        n = len(x) if rows is None else len(rows)
        total, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        lo, hi = np.full(x.shape[1], np.inf, dtype=np.float32), np.full(x.shape[1], -np.inf, dtype=np.float32)
        for start in range(0, n, _BLOCK_ROWS):
            block = x[start : start + _BLOCK_ROWS] if rows is None else x[rows[start : start + _BLOCK_ROWS]]
            np.minimum(lo, block.min(0), out=lo)
            np.maximum(hi, block.max(0), out=hi)
            wide = block.astype(np.float64)
            total += wide.sum(0)
            squares += np.multiply(wide, wide, out=wide).sum(0)
        return self._set(
            torch.from_numpy(total), torch.from_numpy(squares), n, torch.from_numpy(lo), torch.from_numpy(hi)
        )

    def fit_batches(self, batches) -> Standardizer:
        """One pass over raw train batches: sums for mean and std, per-position min and max."""
        n, total, squares, lo, hi = 0, None, None, None, None
        for x in batches:
            x = x.double()
            dims = self._dims(x.ndim)
            count = x.numel() // math.prod(x.shape[d] for d in range(x.ndim) if d not in dims)
            s, q = x.sum(dims, keepdim=True)[0], (x * x).sum(dims, keepdim=True)[0]
            total, squares = (s, q) if total is None else (total + s, squares + q)
            n += count
            lo = x.amin(0) if lo is None else torch.minimum(lo, x.amin(0))
            hi = x.amax(0) if hi is None else torch.maximum(hi, x.amax(0))
        return self._set(total, squares, n, lo, hi)

    def fit_sums(self, total, squares, n: int, lo, hi) -> Standardizer:
        """Fitted from sums a source already has: per feature sum and sum of squares (float64),
        min and max, over n train examples."""
        return self._set(total, squares, n, lo, hi)

    def _set(self, total, squares, n: int, lo, hi) -> Standardizer:
        mean = total / n
        std = ((squares / n - mean * mean).clamp_min(0) * n / max(n - 1, 1)).sqrt()
        self.mean = mean.float()
        self.std = torch.where(std > 1e-8, std, torch.ones_like(std)).float()  # constant features stay 0
        self.input_range = {"min": self.transform(lo.float()), "max": self.transform(hi.float())}
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none" or self.mean is None:
            return x
        z = torch.sub(x, self.mean)  # one new tensor, divided in place: (x - mean) / std makes two
        return z.div_(self.std)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.mode == "none" or self.mean is None else z * self.std + self.mean

    def state_dict(self) -> dict:
        return {"mode": self.mode, "mean": self.mean, "std": self.std, "input_range": self.input_range}

    def load_state_dict(self, state: dict) -> None:
        self.mode, self.mean, self.std = state["mode"], state["mean"], state["std"]
        self.input_range = state.get("input_range")


# --------------------------------------------------------------------------- batching
class InMemoryLoader:
    """Serves whole batches (x, y, index) by slicing tensors that sit in memory.

    A small data set fits in memory many times over; a per-example __getitem__ plus
    collate would spend more time in Python than the model spends computing.
    Under DDP each rank takes an equal-length shard of the (shared-seed) permutation.
    With `weights` (imbalance=balanced_sampler) an epoch is len(y) draws with replacement,
    each example drawn with probability proportional to its weight: classes come evenly.
    """

    def __init__(
        self,
        x,
        y,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch_fn=None,
        index=None,
        weights=None,
    ):
        self.x, self.y, self.batch_size, self.shuffle, self.weights = x, y, batch_size, shuffle, weights
        self.index = torch.arange(len(y)) if index is None else index
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch_fn = epoch_fn  # reshuffle by epoch number, so a resumed run sees the same order
        self._calls = 0
        self._epoch, self._served, self._resume_at = None, 0, None

    def _epoch_now(self) -> int:
        return self.epoch_fn() if self.epoch_fn else self._calls

    def _indices(self) -> torch.Tensor:
        n = len(self.y)
        if self.shuffle:
            idx = epoch_order(n, self.seed, self._epoch_now(), self.weights)
        else:
            idx = torch.arange(n)
        if self.world_size > 1:  # pad by wrapping so every rank runs the same number of steps
            per_rank = math.ceil(n / self.world_size)
            idx = torch.cat([idx, idx[: per_rank * self.world_size - n]])[self.rank :: self.world_size]
        return idx

    def __iter__(self):
        epoch, idx = self._epoch_now(), self._indices()
        self._calls += 1
        skip = self._resume_at[1] if self._resume_at and self._resume_at[0] == epoch else 0
        self._epoch, self._served, self._resume_at = epoch, skip, None
        for start in range(skip * self.batch_size, self._batches(len(idx)) * self.batch_size, self.batch_size):
            last = start + self.batch_size >= self._batches(len(idx)) * self.batch_size
            b = idx[start:] if last else idx[start : start + self.batch_size]
            self._served += 1
            yield self.x[b], self.y[b], self.index[b]

    def _batches(self, n: int) -> int:
        """Training batches of n examples: a last batch of one joins the one before it, since
        batch norm cannot train on a single example (and its gradient would be that noisy)."""
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest and not (self.shuffle and rest == 1 and full) else 0)

    # Lightning saves and restores these with a checkpoint: a run stopped in the middle of an
    # epoch (preemption) goes on with the very next batch of the same permutation.
    def state_dict(self) -> dict:
        return {"epoch": self._epoch, "served": self._served}

    def load_state_dict(self, state: dict) -> None:
        self._resume_at = (state.get("epoch"), int(state.get("served", 0)))

    def __len__(self) -> int:
        return self._batches(math.ceil(len(self.y) / self.world_size))


class FileSplit(torch.utils.data.Dataset):
    """One split of a file-backed source: (standardized input, target, example index)."""

    def __init__(self, source: Source, index: torch.Tensor, y: torch.Tensor, standardizer: Standardizer | None):
        self.source, self.index, self.y, self.standardizer = source, index, y, standardizer

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int):
        i = int(self.index[k])
        x = self.source.read(i)
        return (self.standardizer.transform(x) if self.standardizer else x), self.y[k], self.index[k]


def epoch_order(n: int, seed: int, epoch: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The training order of an epoch, drawn from (seed, epoch) alone, so that a resumed run
    sees the order an uninterrupted one does: a permutation, or with `weights` n weighted
    draws with replacement (the balanced sampler)."""
    g = torch.Generator().manual_seed(seed + 1000 * epoch)
    return (
        torch.randperm(n, generator=g)
        if weights is None
        else torch.multinomial(weights, n, replacement=True, generator=g)
    )


def balancing_weights(y: torch.Tensor) -> torch.Tensor:
    """Per example 1 / (its class's count): every class is drawn equally often (M25)."""
    counts = torch.bincount(y.long()).double()
    return (1.0 / counts[y.long()]).float()


class EpochSampler(torch.utils.data.Sampler):
    """The order of epoch_order(): a resumed run sees the same order as an uninterrupted one."""

    def __init__(self, n: int, seed: int, epoch_fn, weights: torch.Tensor | None = None):
        self.n, self.seed, self.epoch_fn, self.weights, self._calls = n, seed, epoch_fn, weights, 0

    def __iter__(self):
        epoch = self.epoch_fn() if self.epoch_fn else self._calls
        self._calls += 1
        return iter(epoch_order(self.n, self.seed, epoch, self.weights).tolist())

    def __len__(self) -> int:
        return self.n


# --------------------------------------------------------------------------- data module
class FourSplitDataModule(L.LightningDataModule):
    """train / train_dev / dev / test (M4) from any source, behind interface.DataInterface.

    train_dev comes from the training distribution and is never trained on; dev and test
    come from the target distribution. The test split is the vault (M5): every read of it
    through loader/sample/targets/fingerprints is counted in `test_reads`.
    `num_classes`, `input_shape` and `class_names` are read off the source; typing one in
    the config only asserts it (a disagreement is a one-line error).
    """

    def __init__(
        self,
        source,
        task: str = "auto",
        splits="auto",
        split_seed: int = 0,
        standardize: str = "per_feature",
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        num_classes: int | None = None,
        input_shape=None,
        class_names=None,
        folds: int = 5,
        fold: int | None = None,
        imbalance: str = "none",
    ):
        super().__init__()
        if task != "auto":
            task_class(task)  # a ConfigError naming the kinds there are
        if imbalance not in IMBALANCE:
            raise ConfigError(f"imbalance={imbalance!r} is not known; use one of {', '.join(IMBALANCE)}")
        self.imbalance = imbalance  # balanced_sampler: the train loader draws classes evenly
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if int(value) < 1:
                raise ConfigError(f"data.{key}={value} must be a positive number of examples, e.g. data.{key}=64")
        if int(num_workers) < 0:
            raise ConfigError(f"data.num_workers={num_workers} must be >= 0 (0 = load in the main process)")
        self.folds, self.fold = check_folds(splits, folds, fold)  # fold: None unless data.splits=kfold
        self.source = as_source(source)
        self.task_cfg, self.splits_cfg, self.split_seed, self.shuffle_seed = task, splits, split_seed, shuffle_seed
        self.batch_size, self.eval_batch_size, self.num_workers = (
            int(batch_size),
            int(eval_batch_size),
            int(num_workers),
        )
        self.declared = {
            "num_classes": num_classes,
            "input_shape": None if input_shape is None else list(input_shape),
            "class_names": None if class_names is None else [str(c) for c in class_names],
        }
        self.standardizer = Standardizer(standardize)
        self.eval_splits = ("train_dev", "dev")  # what validation reports on, in this order
        self.test_reads = 0
        self.spec: DataSpec | None = None
        self._indices: dict[str, torch.Tensor] | None = None
        self._y = self._z = self._raw = None
        self._names = None  # a sequence of example names (a table's may be made on demand)

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str | None = None) -> None:
        if self._indices is not None:
            return
        examples = self.source.load()
        targets = np.asarray(examples.targets)
        label_codes = examples.label_codes if examples.label_codes is not None else factorized_labels(targets)
        task = self._task(targets, label_codes)
        fractions = resolve_fractions(self.splits_cfg, len(targets))
        if self.fold is None:
            indices = make_splits(len(targets), fractions, self.split_seed, examples.domain, examples.groups)
        else:  # stratified on the raw targets; with a missing one encode_targets below says which
            labels = (
                None
                if not task_class(task).single_label or missing_targets(targets).any()
                else (targets if np.issubdtype(targets.dtype, np.number) else targets.astype(str))
            )
            indices = make_fold_splits(
                len(targets),
                fractions,
                self.split_seed,
                self.folds,
                self.fold,
                examples.domain,
                labels,
                self.batch_size,
                examples.groups,
            )
        train = indices["train"].numpy()
        others = {k: v.numpy() for k, v in indices.items() if k != "train"}
        declared_names = self.declared["class_names"] or examples.class_names
        kind = task_class(task)
        self._y, class_names = kind.encode_targets(targets, declared_names, train, others, label_codes)
        if self.imbalance == "balanced_sampler" and not kind.single_label:
            raise ConfigError(
                f"imbalance=balanced_sampler draws by class and task {task} has no single class per example; "
                f"use imbalance={'class_weights' if kind.classes else 'none'}"
            )
        self._names, self._indices = examples.names, indices
        self._fit(train)
        self.spec = DataSpec(
            task,
            tuple(self.source.input_shape),
            class_names,
            self.source.feature_names,
            getattr(self.source, "target", None),
            self.source.kind,
        )
        self._check_declared()

    def _task(self, targets: np.ndarray, labels: tuple | None) -> str:
        """data.task, or read off the targets and said in one line with the key that overrides it."""
        if self.task_cfg != "auto":
            return self.task_cfg
        task, why = task_and_reason(targets, labels)
        if line := said_task(task, why, getattr(self.source, "target", None)):
            print(line)
        return task

    def _fit(self, train: np.ndarray) -> None:
        """The source's preprocessing, then standardization: both on the train rows alone."""
        self.source.fit(train)
        if self.source.in_memory:
            if hasattr(self.source, "train_statistics") and self.standardizer.mode == "per_feature":
                self.standardizer.fit_sums(**self.source.train_statistics())  # a table's: read off its fit
                self._serve_source()
            else:
                raw = self.source.features()
                self.standardizer.fit(raw, torch.from_numpy(train))
                self._serve(raw)
        else:
            plain = FileSplit(self.source, torch.from_numpy(train), self._y[train], None)
            loader = torch.utils.data.DataLoader(plain, batch_size=256, num_workers=self.num_workers)
            self.standardizer.fit_batches(x for x, _, _ in loader)

    def _serve_source(self) -> None:
        """The source's features, standardized. A table standardizes them as it builds the
        matrix (features(mean, std)): at a million rows a second pass costs a tenth of setup."""
        st = self.standardizer
        if self.source.standardizes_features and st.mode == "per_feature" and st.mean is not None:
            self._raw, self._z = None, self.source.features(st.mean, st.std)
        else:
            self._serve(self.source.features())

    def _serve(self, raw: torch.Tensor) -> None:
        """The standardized inputs every loader slices, beside the raw ones."""
        self._raw, self._z = raw, self.standardizer.transform(raw)

    def _check_declared(self) -> None:
        spec, d = self.spec, self.declared
        if d["input_shape"] is not None and tuple(d["input_shape"]) != tuple(spec.input_shape):
            raise ConfigError(
                f"data.input_shape={d['input_shape']} but the source yields examples of shape "
                f"{list(spec.input_shape)}; set data.input_shape={list(spec.input_shape)} or leave it out"
            )
        if d["num_classes"] is not None and d["num_classes"] != spec.num_classes:
            raise ConfigError(
                f"data.num_classes={d['num_classes']} but the targets have {spec.num_classes} classes "
                f"{(spec.class_names or [])[:10]}; set data.num_classes={spec.num_classes} or leave it out"
            )

    # ------------------------------------------------------------------ the interface
    def _index(self, split: str) -> torch.Tensor:
        if split not in SPLITS:
            raise KeyError(f"unknown split {split!r}; one of {SPLITS}")
        if self._indices is None:
            raise RuntimeError("the data module is not set up; call setup() first")
        if split == "test":
            self.test_reads += 1
        return self._indices[split]

    def size(self, split: str) -> int:
        """How many examples a split has (reads nothing, so test is not counted)."""
        return len(self._indices[split])

    def loader(self, split: str, shuffle: bool = False, batch_size: int | None = None):
        idx = self._index(split)
        trainer = self.trainer
        batch_size = batch_size or (self.batch_size if shuffle else self.eval_batch_size)
        epoch_fn = (lambda: trainer.current_epoch) if trainer else None
        weights = (
            balancing_weights(self._y[idx])
            if shuffle and split == "train" and self.imbalance == "balanced_sampler"
            else None
        )
        # Shards per rank while the ranks train together; rank 0's reports after the fit (the process
        # group is gone by then) score every example of the split, not its own shard.
        sharded = trainer is not None and torch.distributed.is_available() and torch.distributed.is_initialized()
        if self.source.in_memory:
            return InMemoryLoader(
                self._z[idx],
                self._y[idx],
                batch_size,
                shuffle,
                seed=self.shuffle_seed,
                rank=trainer.global_rank if sharded else 0,
                world_size=trainer.world_size if sharded else 1,
                epoch_fn=epoch_fn,
                index=idx,
                weights=weights,
            )
        data = FileSplit(self.source, idx, self._y[idx], self.standardizer)
        sampler = EpochSampler(len(idx), self.shuffle_seed, epoch_fn, weights) if shuffle else None
        return torch.utils.data.DataLoader(
            data,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and shuffle,
            drop_last=shuffle and len(idx) % batch_size == 1,
        )  # no training batch of one

    def sample(self, split: str, n: int, seed: int = 0):
        idx = self._index(split)
        pick = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[: min(int(n), len(idx))]
        return self.examples(idx[pick]) + (idx[pick],)

    def examples(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(standardized inputs, targets) of these example indices (as loaders and samples yield them)."""
        index = torch.as_tensor(index, dtype=torch.long)
        if self.source.in_memory:
            return self._z[index], self._y[index]
        x = (
            torch.stack([self.standardizer.transform(self.source.read(int(i))) for i in index])
            if len(index)
            else torch.empty(0, *self.spec.input_shape)
        )
        return x, self._y[index]

    def targets(self, split: str) -> torch.Tensor:
        return self._y[self._index(split)]

    def fingerprints(self, split: str) -> list[bytes]:
        idx = self._index(split)
        if self.source.in_memory:
            rows = (self._z if self._raw is None else self._raw)[idx].contiguous().reshape(len(idx), -1).numpy()
            return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]
        return [self.source.fingerprint(int(i)) for i in idx]

    def describe(self, index) -> list[dict]:
        return [{"example": self._names[int(i)], **self.source.describe(int(i))} for i in index]

    def read_new(self, path: str) -> tuple[torch.Tensor, list[str]]:
        """New inputs in the form the user has them (predict.py), preprocessed as train was."""
        x, names = self.source.read_new(path)
        return self.standardizer.transform(x), names

    def read_notes(self) -> list[str]:
        return list(self.source.read_notes)

    def skipped_rows(self) -> np.ndarray:
        return self.source.skipped_rows

    # ------------------------------------------------------------------ Lightning's hooks
    def train_dataloader(self):
        # debug=overfit (trainer.overfit_batches) must fit the same batch every epoch, not a new one
        overfit = bool(self.trainer and self.trainer.overfit_batches)
        return self.loader("train", shuffle=not overfit)

    def val_dataloader(self):
        return [self.loader(name) for name in self.eval_splits]

    def test_dataloader(self):
        return self.loader("test")

    def train_on_train_and_dev(self) -> None:
        """The final model (M8): dev joins train, and the preprocessing is refitted on what
        is now trained on. Nothing is left to select with afterwards; test stays untouched."""
        self._indices["train"] = torch.cat([self._indices["train"], self._indices["dev"]]).sort().values
        self._fit(self._indices["train"].numpy())

    # The spec and every fitted statistic travel inside every checkpoint.
    def state_dict(self) -> dict:
        return {
            "spec": self.spec.to_dict() if self.spec else None,
            "source": self.source.state_dict(),
            "standardizer": self.standardizer.state_dict(),
            "split_seed": self.split_seed,
        }

    def load_state_dict(self, state: dict) -> None:
        """The checkpoint's fitted state wins (a final model's is fitted on train + dev)."""
        self.standardizer.load_state_dict(state["standardizer"])
        if state.get("source") is not None:
            self.source.load_state_dict(state["source"])
        if state.get("spec") is not None and self.spec is None:
            self.spec = DataSpec.from_dict(state["spec"])
        if self._z is not None:  # set up already: serve what the checkpoint's state makes of the data
            self._serve_source()
