"""The data interface, in one place: what a *source* hands the recipe, and what every other
part of the recipe (checks, training, diagnosis, error analysis, evaluate, predict, sweeps)
may ask of the data module. Nothing outside data/datamodule.py reaches past these two declarations.

  your data ──> Source ──> FourSplitDataModule ──> DataInterface ──> checks, fit, reports, predict
               (arrays,     (four splits, labels    (loaders, bounded samples, spec,
                tables,      to class ids, the       preprocessing state, test reads)
                images)      standardizer)

A Source is the only part that knows about files. It is driven in this order:
    examples = source.load()      once: targets, example names, domain (and, for in-memory
                                  sources, whatever it needs to build features later)
    source.fit(train_index)       fit the source's own preprocessing (imputation, encoders)
                                  on the train rows ONLY; dev and test never shape it
    source.input_shape            known after fit; so is source.feature_names
then, to serve examples,
    in-memory sources:  source.features()  -> float32 tensor [N, *input_shape], all rows
    file-backed ones:   source.read(i)     -> float32 tensor [*input_shape], one example
                        (picklable: DataLoader worker processes call it)
and for the reports and for predict.py:
    source.describe(i)        -> dict of what a person recognizes the example by (a file
                                 path; the original column values of a table row)
    source.read_new(path)     -> (float32 [M, *input_shape], names): new inputs in the form
                                 the user has them, preprocessed with the fitted state only
    source.state_dict() / load_state_dict(state): the fitted state as plain data (str, int,
                                 float, list, dict, None, tensors), so every checkpoint holds
                                 it and loads with torch.load(..., weights_only=True)
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch


@dataclasses.dataclass
class Examples:
    """What Source.load() returns: N examples, before anything is fitted.

    targets      [N] raw targets: ints, floats or strings (class names). Missing (None/NaN)
                 targets are refused by the data module, not silently dropped.
                 Multilabel: [N, L] of 0/1, NaN (or -1) where a label is unknown.
    names        [N] how a person finds each example again: "cat/001.png", "row 17".
    domain       optional [N] of 0/1: 1 = the target distribution dev/test are drawn from.
    class_names  optional names for integer class ids 0..C-1 (digits: "0".."9"); string
                 targets name their classes themselves. Multilabel: one name per label.
    groups       optional [N] group ids (data.group): examples that belong together (one
                 person's rows, copies of one record) go to one split, whole.
    label_codes  optional (codes [N], distinct values) of text targets, as pandas.factorize
                 gives them, when the source hashed them already (a table): the data module
                 then does not hash a million labels again.
    """

    targets: np.ndarray
    names: Sequence[str]  # a list, or any sequence that makes names on demand
    domain: np.ndarray | None = None
    class_names: list[str] | None = None
    groups: np.ndarray | None = None
    label_codes: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self):
        if len(self.names) != len(self.targets):
            raise ValueError(f"{len(self.targets)} targets but {len(self.names)} example names")


class Source:
    """Base class of every source. Subclasses set `in_memory` and implement the methods the
    module docstring lists; the defaults here fit nothing and store nothing."""

    in_memory: bool = True
    kind: str = "arrays"  # what predict.py expects as input: arrays | table | image_folder
    input_shape: tuple = ()
    feature_names: list[str] | None = None
    standardizes_features: bool = False  # True: features(mean, std) returns them standardized (a table)
    skipped_rows: np.ndarray = np.empty(0, dtype=np.int64)  # rows of the file left out by load() (no target)
    read_notes: (
        tuple[str, ...] | list[str]
    ) = ()  # what the last read_new() has to say (a table: categories train never saw)

    def load(self) -> Examples:
        raise NotImplementedError

    def fit(self, train_index: np.ndarray) -> None:
        """Fit preprocessing on the train rows alone."""

    def features(self) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is file-backed: use read(i)")

    def read(self, i: int) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is in memory: use features()")

    def fingerprint(self, i: int) -> bytes:
        """A content hash of example i (exact duplicates across splits share it)."""
        return hashlib.blake2b(self.read(i).numpy().tobytes(), digest_size=16).digest()

    def describe(self, i: int) -> dict:
        return {}

    def read_new(self, path: str) -> tuple[torch.Tensor, list[str]]:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclasses.dataclass
class DataSpec:
    """What the data is, derived from the source (never typed by hand; a typed value that
    disagrees is a one-line error). Travels in every checkpoint as plain data."""

    task: str  # a kind of tasks/: multiclass | binary | multilabel | regression
    input_shape: tuple
    class_names: list[str] | None  # classification: index = class id; multilabel: the label names
    feature_names: list[str] | None  # tables: one per input column after encoding
    target_name: str | None = None
    source_kind: str = "arrays"

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    @property
    def num_outputs(self) -> int:
        """Width of the net's last layer, as the task kind says (C logits, L labels, or 1)."""
        from ..tasks import task_class

        return task_class(self.task).num_outputs(self.num_classes)

    def class_name(self, c: int) -> str:
        return self.class_names[int(c)] if self.class_names is not None else str(c)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DataSpec:
        d = dict(d)
        d["input_shape"] = tuple(d["input_shape"])
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls) if f.name in d})


Batch = tuple  # (inputs [B, *input_shape], targets [B], example indices [B]) from every loader


class Standardization(Protocol):
    """The standardization fitted on train (M7), as consumers may use it."""

    mean: torch.Tensor | None  # per feature (tables, arrays) or per channel (images); None: off
    std: torch.Tensor | None
    input_range: dict | None  # train's range per feature, for predict.py's extrapolation warnings (M35)

    def transform(self, x: torch.Tensor) -> torch.Tensor: ...

    def inverse(self, x: torch.Tensor) -> torch.Tensor: ...


class DataInterface(Protocol):
    """What consumers may ask of the data module (FourSplitDataModule and StreamingDataModule
    implement it): nothing else, so a consumer never needs getattr to find out."""

    spec: DataSpec  # after setup() or load_state_dict()
    test_reads: int  # how often the test split was opened (the vault's counter)
    standardizer: Standardization
    eval_splits: tuple[str, ...]  # what validation reports on, in its loaders' order
    batch_size: int  # the train loader's

    def setup(self, stage: str | None = None) -> None:
        """Load the source, split, encode the targets, fit the preprocessing on train (once)."""

    def train_on_train_and_dev(self) -> None:
        """From now on train is train + dev and nothing is validated (the final model, M8)."""

    def skipped_rows(self) -> np.ndarray:
        """Rows of the source's file left out for having no target (missing_targets.csv)."""

    def read_notes(self) -> list[str]:
        """What the last read_new() has to say about the new inputs (unseen categories)."""

    def loader(self, split: str, shuffle: bool = False):
        """Batches (x, y, index) of one split, standardized; `test` is counted."""

    def sample(self, split: str, n: int, seed: int = 0) -> Batch:
        """At most n random examples of a split as one batch: what the checks read."""

    def targets(self, split: str) -> torch.Tensor:
        """All targets of a split (class ids or values), without reading any input."""

    def fingerprints(self, split: str) -> list[bytes]:
        """One content hash per example of a split, in the split's order."""

    def size(self, split: str) -> int:
        """How many examples a split has (reads nothing)."""

    def examples(self, index) -> tuple:
        """(inputs, targets) of these example indices, as loaders yield them (the reports'
        pictures of the worst mistakes)."""

    def describe(self, index) -> list[dict]:
        """Per example index: its name and what a person recognizes it by."""

    def read_new(self, path: str) -> tuple:
        """New inputs in the user's own form (predict.py), preprocessed as train was."""

    def state_dict(self) -> dict:
        """The spec and every fitted statistic: saved in every checkpoint."""
