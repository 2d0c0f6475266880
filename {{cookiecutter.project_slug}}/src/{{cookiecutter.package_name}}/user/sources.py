"""YOUR data sources (this file is yours to edit): functions that return arrays in memory.

A source function returns a dict with
  x            float array [N, *input_shape]
  y            [N] class ids 0..C-1, class names (strings) or float targets (regression)
  domain       optional int array [N]: 0 = the training distribution, 1 = the target
               distribution you care about (dev/test are drawn from domain 1 only)
  class_names  optional names of the class ids 0..C-1 (they appear in every report)
  feature_names  optional, one per input column of a table
Point `source._target_` in a configs/data/*.yaml at it (with `_partial_: true`). The task,
the classes and the input shape are read off what it returns.

Files instead of arrays need no code: data=table (CSV, Parquet) and data=image_folder.
Everything else (four splits, preprocessing fitted on train, batching) is the recipe's,
in data/datamodule.py; the contract a source fulfils is written down in data/interface.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def load_digits() -> dict:
    """scikit-learn's bundled 8x8 handwritten digits: 1797 real images, no download."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return {
        "x": d.images.reshape(-1, 1, 8, 8).astype(np.float32),
        "y": d.target.astype(np.int64),
        "class_names": [str(c) for c in range(10)],
    }


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
        [
            torch.stack([angle.cos(), -angle.sin(), shift[:, 0]], 1),
            torch.stack([angle.sin(), angle.cos(), shift[:, 1]], 1),
        ],
        1,
    )
    grid = torch.nn.functional.affine_grid(theta, [len(target), 1, 8, 8], align_corners=False)
    moved = torch.nn.functional.grid_sample(x[target], grid, align_corners=False, padding_mode="zeros")
    blurred = torch.nn.functional.avg_pool2d(moved, 3, stride=1, padding=1, count_include_pad=False)
    x[target] = 0.5 * moved + 0.5 * blurred
    domain = np.zeros(n, dtype=np.int64)
    domain[target.numpy()] = 1
    return {"x": x.numpy(), "y": y, "domain": domain, "class_names": d["class_names"]}


def load_digits_multilabel(missing: float = 0.2, seed: int = 0) -> dict:
    """The bundled digits with three labels per image instead of one class (M23): is the digit
    even, is it greater than 4, does it have a closed loop (0, 6, 8, 9). A `missing` fraction
    of the labels is unknown (NaN), as when annotators answered only some of the questions:
    the loss and the metrics skip those, they do not count them as 0."""
    d = load_digits()
    digit = d["y"]
    y = np.stack([digit % 2 == 0, digit > 4, np.isin(digit, [0, 6, 8, 9])], 1).astype(np.float32)
    y[np.random.default_rng(seed).random(y.shape) < missing] = np.nan
    return {"x": d["x"], "y": y, "class_names": ["even", "greater_than_4", "has_loop"]}


def load_digits_imbalanced(rare: tuple = (5, 6, 7, 8, 9), keep: float = 0.1, seed: int = 0) -> dict:
    """The bundled digits with the `rare` classes cut to a `keep` fraction of their examples
    (about 18 each instead of 180): a class-imbalanced set to try imbalance=class_weights and
    imbalance=balanced_sampler on (M25; benchmarks/bench_imbalance.py compares them)."""
    d = load_digits()
    rng = np.random.default_rng(seed)
    kept = ~np.isin(d["y"], rare) | (rng.random(len(d["y"])) < keep)
    return {"x": d["x"][kept], "y": d["y"][kept], "class_names": d["class_names"]}


def load_breast_cancer() -> dict:
    """scikit-learn's bundled Wisconsin breast cancer table: 569 x 30 features, binary."""
    from sklearn.datasets import load_breast_cancer as sk_bc

    d = sk_bc()
    return {
        "x": d.data.astype(np.float32),
        "y": d.target.astype(np.int64),
        "class_names": [str(n) for n in d.target_names],
        "feature_names": [str(n) for n in d.feature_names],
    }


def load_diabetes() -> dict:
    """scikit-learn's bundled diabetes table: 442 x 10 features, regression target."""
    from sklearn.datasets import load_diabetes as sk_diabetes

    d = sk_diabetes(scaled=False)
    return {
        "x": d.data.astype(np.float32),
        "y": d.target.astype(np.float32),
        "feature_names": [str(n) for n in d.feature_names],
    }


def load_digits_pretrain() -> dict:
    """Transfer learning (M22), step 1: the bundled digits 0-4 only, all their ~900 examples.
    A net trained on these learns strokes and shapes that also help with 5-9."""
    d = load_digits()
    keep = d["y"] < 5
    return {"x": d["x"][keep], "y": d["y"][keep], "class_names": d["class_names"][:5]}


def load_digits_finetune(labels_per_class: int = 10, seed: int = 0) -> dict:
    """Transfer learning (M22), step 2: digits 5-9 with only `labels_per_class` labelled examples
    per class to train on (domain 0: train and train_dev) and all the other examples of 5-9 as the
    target distribution (domain 1), so dev and test measure the whole target, not the few labels.
    Class ids 0..4 stand for the digits 5..9."""
    d = load_digits()
    keep = d["y"] >= 5
    x, y = d["x"][keep], d["y"][keep] - 5
    rng = np.random.default_rng(seed)
    domain = np.ones(len(y), dtype=np.int64)
    for c in range(5):
        domain[rng.permutation(np.flatnonzero(y == c))[:labels_per_class]] = 0
    return {"x": x, "y": y, "domain": domain, "class_names": [str(c) for c in range(5, 10)]}
