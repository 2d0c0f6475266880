"""Data: where examples come from, how they are split, standardized and served.

To plug in your own data, write a *source*: a function returning a dict with
  x       float array, shape [N, *input_shape]
  y       int class ids (multiclass/binary) or float targets (regression), shape [N]
  domain  optional int array [N]: 0 = the training distribution, 1 = the target
          distribution you care about (dev/test are drawn from domain 1 only).
then point `source._target_` in a configs/data/*.yaml at it. Everything else here
(four splits, standardization, batching) works unchanged.
"""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch

from .config import ConfigError

SPLITS = ("train", "train_dev", "dev", "test")


# --------------------------------------------------------------------------- sources
def load_digits() -> dict:
    """scikit-learn's bundled 8x8 handwritten digits: 1797 real images, no download."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return {"x": d.images.reshape(-1, 1, 8, 8).astype(np.float32), "y": d.target.astype(np.int64)}


def load_digits_shifted(target_fraction: float = 0.3, max_degrees: float = 30.0, seed: int = 0) -> dict:
    """Digits with a genuine train/target distribution shift.

    A random `target_fraction` of the images is rotated, shifted and blurred: these form the
    *target* distribution (dev/test); the clean rest is the *training* distribution
    (train/train_dev). A model can fit train and train_dev well and still do worse on dev:
    that gap is data mismatch, which only a train_dev split can tell apart from variance.
    """
    d = load_digits()
    x, y = torch.from_numpy(d["x"]), d["y"]
    g = torch.Generator().manual_seed(seed)
    n = len(y)
    target = torch.randperm(n, generator=g)[: round(target_fraction * n)]
    angle = torch.empty(len(target)).uniform_(max_degrees / 2, max_degrees, generator=g)
    angle = angle * (torch.randint(0, 2, (len(target),), generator=g) * 2 - 1) * math.pi / 180
    shift = torch.empty(len(target), 2).uniform_(-0.25, 0.25, generator=g)
    theta = torch.stack(
        [torch.stack([angle.cos(), -angle.sin(), shift[:, 0]], 1), torch.stack([angle.sin(), angle.cos(), shift[:, 1]], 1)],
        1,
    )
    grid = torch.nn.functional.affine_grid(theta, [len(target), 1, 8, 8], align_corners=False)
    moved = torch.nn.functional.grid_sample(x[target], grid, align_corners=False, padding_mode="zeros")
    blurred = torch.nn.functional.avg_pool2d(moved, 3, stride=1, padding=1, count_include_pad=False)
    x[target] = 0.5 * moved + 0.5 * blurred
    domain = np.zeros(n, dtype=np.int64)
    domain[target.numpy()] = 1
    return {"x": x.numpy(), "y": y, "domain": domain}


def load_breast_cancer() -> dict:
    """scikit-learn's bundled Wisconsin breast cancer table: 569 x 30 features, binary."""
    from sklearn.datasets import load_breast_cancer as sk_bc

    d = sk_bc()
    return {"x": d.data.astype(np.float32), "y": d.target.astype(np.int64)}


def load_diabetes() -> dict:
    """scikit-learn's bundled diabetes table: 442 x 10 features, regression target."""
    from sklearn.datasets import load_diabetes as sk_diabetes

    d = sk_diabetes(scaled=False)
    return {"x": d.data.astype(np.float32), "y": d.target.astype(np.float32)}


# --------------------------------------------------------------------------- splits
def resolve_fractions(splits, n: int) -> dict:
    """`auto`: 70/10/10/10-style for small data, 97/1/1/1-style from 100k examples on,
    where 1% is already thousands of examples and the rest is better spent on training."""
    if splits == "auto":
        return {"train_dev": 0.1, "dev": 0.1, "test": 0.1} if n < 100_000 else {"train_dev": 0.01, "dev": 0.01, "test": 0.01}
    example = "data.splits={train_dev:0.1,dev:0.1,test:0.1}"
    if not hasattr(splits, "keys") or set(splits.keys()) != {"train_dev", "dev", "test"}:
        raise ConfigError(f"data.splits={splits} must be auto or give train_dev, dev and test (train gets the rest), e.g. {example}")
    fractions = {k: float(splits[k]) for k in ("train_dev", "dev", "test")}
    if any(not 0 < f < 1 for f in fractions.values()) or sum(fractions.values()) >= 1:
        raise ConfigError(
            f"data.splits={fractions}: each fraction must be in (0, 1) and together below 1 (train gets the rest); e.g. {example}"
        )
    return fractions


def make_splits(n: int, fractions: dict, seed: int, domain: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """Disjoint index sets, the same for the same seed and n.

    dev and test are drawn from the target distribution (domain 1) when there is one,
    and train_dev from the training distribution, so that the four splits mean what the
    methodology says they mean.
    """
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
    idx = {"test": target[:n_test], "dev": target[n_test : n_test + n_dev], "train_dev": source[:n_tdev], "train": source[n_tdev:]}
    empty = [k for k, v in idx.items() if len(v) == 0]
    if empty:
        raise ConfigError(f"split(s) {empty} would be empty with {n} examples; raise their fraction in data.splits")
    return {k: v.sort().values for k, v in idx.items()}


# --------------------------------------------------------------------------- standardization
class Standardizer:
    """(x - mean) / std with statistics fitted on the train split only (M7).

    Fitting on all data would leak dev/test statistics into training. The statistics are
    saved in every checkpoint (see FourSplitDataModule.state_dict) so prediction uses them,
    together with the range of the standardized train inputs: predict.py warns about inputs
    outside what the model saw in training (extrapolation, M35).
    mode: per_feature (tables), per_channel (images), or none.
    """

    def __init__(self, mode: str = "per_feature"):
        if mode not in ("per_feature", "per_channel", "none"):
            raise ConfigError(f"data.standardize={mode!r} is not known; use per_feature, per_channel or none")
        self.mode, self.mean, self.std = mode, None, None
        self.input_range: dict | None = None

    def fit(self, x: torch.Tensor) -> Standardizer:
        dims = (0,) if self.mode == "per_feature" or x.ndim < 3 else (0, *range(2, x.ndim))
        self.mean = x.mean(dims, keepdim=True)[0]
        std = x.std(dims, keepdim=True)[0]
        self.std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features stay 0
        z = self.transform(x)
        self.input_range = {"min": z.amin(0), "max": z.amax(0)}
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mode == "none" else (x - self.mean) / self.std

    def state_dict(self) -> dict:
        return {"mode": self.mode, "mean": self.mean, "std": self.std, "input_range": self.input_range}

    def load_state_dict(self, state: dict) -> None:
        self.mode, self.mean, self.std = state["mode"], state["mean"], state["std"]
        self.input_range = state.get("input_range")  # absent in checkpoints from before it was kept here


# --------------------------------------------------------------------------- batching
class InMemoryLoader:
    """Serves whole batches by slicing tensors that sit in memory.

    A small data set fits in memory many times over; a per-example __getitem__ plus
    collate would spend more time in Python than the model spends computing.
    Under DDP each rank takes an equal-length shard of the (shared-seed) permutation.
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, epoch_fn=None):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch_fn = epoch_fn  # reshuffle by epoch number, so a resumed run sees the same order
        self._calls = 0

    def _indices(self) -> torch.Tensor:
        n = len(self.y)
        if self.shuffle:
            epoch = self.epoch_fn() if self.epoch_fn else self._calls
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + 1000 * epoch))
        else:
            idx = torch.arange(n)
        if self.world_size > 1:  # pad by wrapping so every rank runs the same number of steps
            per_rank = math.ceil(n / self.world_size)
            idx = torch.cat([idx, idx[: per_rank * self.world_size - n]])[self.rank :: self.world_size]
        return idx

    def __iter__(self):
        idx = self._indices()
        self._calls += 1
        for start in range(0, len(idx), self.batch_size):
            b = idx[start : start + self.batch_size]
            yield self.x[b], self.y[b]

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.y) / self.world_size) / self.batch_size)


# --------------------------------------------------------------------------- data module
class FourSplitDataModule(L.LightningDataModule):
    """train / train_dev / dev / test (M4).

    train_dev comes from the training distribution and is never trained on; dev and test
    come from the target distribution. The test split is the vault (M5): nothing in
    training touches it; `split("test")` is its only door, and `test_reads` counts openings.
    """

    def __init__(
        self,
        source,
        task: str,
        num_classes: int | None,
        num_outputs: int,
        input_shape,
        splits="auto",
        split_seed: int = 0,
        standardize: str = "per_feature",
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        shuffle_seed: int = 0,
    ):
        super().__init__()
        self.source, self.task, self.num_classes = source, task, num_classes
        self.num_outputs, self.input_shape = num_outputs, tuple(input_shape)
        self.splits_cfg, self.split_seed, self.shuffle_seed = splits, split_seed, shuffle_seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.standardizer = Standardizer(standardize)
        self.eval_splits = ("train_dev", "dev")  # what validation reports on, in this order
        self.test_reads = 0
        self._x = self._y = self.indices = None

    def prepare_data(self) -> None:  # bundled data: nothing to download
        pass

    def setup(self, stage: str | None = None) -> None:
        if self._x is not None:
            return
        raw = self.source()
        x = torch.as_tensor(np.asarray(raw["x"]), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(raw["y"]))
        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"data.input_shape={list(self.input_shape)} but the source yields examples of shape "
                f"{list(x.shape[1:])}; set data.input_shape={list(x.shape[1:])}"
            )
        y = y.long() if self.task == "multiclass" else y.float()
        fractions = resolve_fractions(self.splits_cfg, len(y))
        self.indices = make_splits(len(y), fractions, self.split_seed, raw.get("domain"))
        self.standardizer.fit(x[self.indices["train"]])
        self._x, self._y = x, y

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardized (x, y) of one split. `test` is counted: only evaluate.py should ask."""
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; one of {SPLITS}")
        if name == "test":
            self.test_reads += 1
        idx = self.indices[name]
        return self.standardizer.transform(self._x[idx]), self._y[idx]

    def _loader(self, name: str, shuffle: bool) -> InMemoryLoader:
        x, y = self.split(name)
        trainer = self.trainer
        return InMemoryLoader(
            x,
            y,
            self.batch_size if shuffle else self.eval_batch_size,
            shuffle,
            seed=self.shuffle_seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            epoch_fn=(lambda: trainer.current_epoch) if trainer else None,
        )

    def train_dataloader(self):
        return self._loader("train", shuffle=True)

    def val_dataloader(self):
        return [self._loader(name, shuffle=False) for name in self.eval_splits]

    def test_dataloader(self):
        return self._loader("test", shuffle=False)

    def train_on_train_and_dev(self) -> None:
        """The final model (M8): dev joins train, and standardization is refitted on what is
        now trained on. Nothing is left to select with afterwards; test stays untouched."""
        self.indices["train"] = torch.cat([self.indices["train"], self.indices["dev"]]).sort().values
        self.standardizer.fit(self._x[self.indices["train"]])

    def label_prior(self) -> torch.Tensor:
        """Class shares (or the mean target) on train: the best input-independent prediction."""
        y = self._y[self.indices["train"]]
        if self.task == "multiclass":
            return torch.bincount(y, minlength=self.num_classes).float() / len(y)
        return y.float().mean().reshape(1)

    # The standardization statistics travel inside every checkpoint.
    def state_dict(self) -> dict:
        return {"standardizer": self.standardizer.state_dict(), "split_seed": self.split_seed}

    def load_state_dict(self, state: dict) -> None:
        self.standardizer.load_state_dict(state["standardizer"])
