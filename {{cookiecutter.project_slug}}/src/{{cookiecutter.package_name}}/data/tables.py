"""Your own table as a Source: a CSV, TSV or Parquet file, one example per row.

    python train.py data=table data.path=animals.csv data.target=animal

Every column but the target (and the optional domain column and data.drop) is a feature.
Numeric columns stay numbers; anything else (strings, booleans, categories) is one-hot
encoded. All preprocessing is fitted on the train rows alone, so dev and test never shape it:
  numeric      missing values -> the train median (beyond 32,768 train rows, the median of
               an even spread of that many), plus a `<name>_missing` 0/1 column for
               every numeric column that has a missing value in the train rows (a column
               complete in train gets no indicator: its rare later gaps get the median alone)
  categorical  one column per category seen in train (the max_categories most frequent),
               plus `<name>=<missing>` and `<name>=<other>` (not seen in train, or too rare)
The data module standardizes the encoded columns afterwards; this file never does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from ..common import ConfigError
from .interface import Examples, Source

MISSING, OTHER = "<missing>", "<other>"
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_FORMAT = "table/1"  # bump when the state's layout changes
_TILE_ROWS = 4096  # rows per tile of the encoded matrix: ~1.6 MB at 100 columns, cache-sized
# Column statistics and tiles of the matrix are numpy work that releases the GIL: threads over
# columns (fit) and over row tiles (features) use the cores pandas' reader also uses (those
# this process may run on: SLURM and taskset bind fewer than the machine has).
_THREADS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
_MEDIAN_SAMPLE = 1 << 15  # train values an imputation median is read from, at most (_TrainRows)


class TableSource(Source):
    in_memory = True
    kind = "table"
    standardizes_features = True  # features(mean, std) standardizes as it builds the matrix: no second [N, F] copy

    def __init__(
        self,
        path,
        target,
        features=None,
        drop=(),
        domain=None,
        target_domain=None,
        numeric=None,
        categorical=None,
        max_categories=32,
        missing_target="skip",
        sep=None,
        encoding=None,
        group=None,
    ):
        self.path = None if path is None else str(path)
        self.target = None if target is None else str(target)
        self.requested_features = _column_list(features)
        self.drop = _column_list(drop) or []
        self.domain = None if domain is None else str(domain)
        self.group = None if group is None else str(group)  # a column, or "inputs" (rows of equal inputs)
        self.target_domain = _plain(target_domain)
        self.numeric = _column_list(numeric) or []
        self.categorical = _column_list(categorical) or []
        if int(max_categories) < 1:
            raise ConfigError(
                f"data.max_categories={max_categories} must be >= 1 (how many categories per column get their own input)"
            )
        self.max_categories = int(max_categories)
        if missing_target not in ("skip", "error"):
            raise ConfigError(
                f"data.missing_target={missing_target!r} is not known; use skip (rows without a target are "
                "left out) or error"
            )
        self.missing_target = missing_target
        self.sep, self.encoding = sep, encoding  # None: detected (said when not "," / UTF-8)
        self._read: dict[str, dict] = {}  # numeric column -> how its text becomes numbers (dates, '?' tokens)
        self.skipped_rows: np.ndarray = np.empty(0, dtype=np.int64)  # file rows left out: no target
        self.read_notes: list[str] = []
        self.notes: list[str] = []  # what fit() decided that a person should know (rare categories, ...)
        self._frame: pd.DataFrame | None = None
        self._factorize_cache: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._encoded_cache: dict[str, list[np.ndarray]] = {}
        self._kinds: dict[str, str] = {}  # feature column -> numeric | categorical, in feature order
        self._columns: list[dict] | None = None  # the fitted state, one entry per feature column

    @classmethod
    def from_state_dict(cls, state: dict) -> TableSource:
        """A source that can read_new() without the training file (predict.py)."""
        source = cls(path=None, target=state["target"])
        source.load_state_dict(state)
        return source

    # -- load: read the file once, check the columns, infer the kinds --------------------

    def load(self) -> Examples:
        if self.path is None:
            raise ConfigError("data.path is not set; python train.py data=table data.path=FILE data.target=COLUMN")
        frame = _read_table(self.path, f"data.path={self.path}", self.sep, self.encoding, say=True)
        feature_columns = self._feature_columns(list(frame.columns))
        frame, rows = self._without_missing_targets(frame)
        with ThreadPoolExecutor(1) as pool:  # the target's hashing beside the columns' (it releases the GIL)
            target_read = pool.submit(self._targets, frame)
            self._kinds, self._read = self._column_kinds(frame, feature_columns)
            targets, label_codes = target_read.result()
        for name in self.numeric:
            if name in self._kinds:
                _as_numbers(
                    frame[name],
                    f"data.numeric lists column {name!r} but it has a non-numeric value",
                    f"fix the file or move {name} to data.categorical",
                )

        return Examples(
            targets=targets,
            names=_row_names(len(frame), rows),
            domain=self._domain(frame),
            class_names=None,
            groups=self._groups(frame),
            label_codes=label_codes,
        )

    def _feature_columns(self, columns: list[str]) -> list[str]:
        """The columns the inputs are made of, once every column the data.* keys name is known to be
        there and in one role (target, domain, group, a feature; numeric or categorical)."""
        listed = ", ".join(columns[:30]) + (f", ... ({len(columns)} columns)" if len(columns) > 30 else "")
        if self.target not in columns:
            raise ConfigError(f"data.target={self.target!r} is not a column of {self.path}; its columns are: {listed}")
        for key, names in (
            ("data.features", self.requested_features or []),
            ("data.drop", self.drop),
            ("data.domain", [self.domain] if self.domain else []),
            ("data.group", [self.group] if self.group and (self.group != "inputs" or "inputs" in columns) else []),
            ("data.numeric", self.numeric),
            ("data.categorical", self.categorical),
        ):
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise ConfigError(
                    f"{key}: no column {', '.join(map(repr, unknown))} in {self.path}; its columns are: {listed}"
                )

        if self.requested_features is not None:
            for role, name in (
                ("target", self.target),
                ("domain", self.domain),
                ("group", self._group_column(columns)),
            ):
                if name in self.requested_features:
                    raise ConfigError(
                        f"data.features includes the {role} column {name!r}; remove it from data.features"
                    )
            feature_columns = [c for c in self.requested_features if c not in self.drop]
        else:
            roles = (self.target, self.domain, self._group_column(columns))
            feature_columns = [c for c in columns if c not in roles and c not in self.drop]
        if not feature_columns:
            raise ConfigError(
                f"no feature columns left in {self.path} (data.features, data.drop); keep at least one column besides data.target"
            )
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ConfigError(
                f"data.numeric and data.categorical both list {', '.join(map(repr, sorted(both)))}; keep each column in one"
            )
        return feature_columns

    def _group_column(self, columns) -> str | None:
        """data.group's column: itself, unless it is "inputs" and no column has that name."""
        return None if self.group is None or (self.group == "inputs" and "inputs" not in columns) else self.group

    def _groups(self, frame: pd.DataFrame) -> np.ndarray | None:
        """A group id per row (data.group), said in one line: a column's values (a row without one
        is a group of its own), or `inputs`: rows with equal input values are one group."""
        if self.group is None:
            return None
        column = self._group_column(frame.columns)
        if column is None:
            keys = pd.util.hash_pandas_object(frame[list(self._kinds)], index=False).to_numpy()
            codes = pd.factorize(keys)[0]
            what = "rows with equal inputs"
        else:
            codes = pd.factorize(frame[column], use_na_sentinel=True)[0].astype(np.int64)
            alone = codes < 0
            codes[alone] = codes.max() + 1 + np.arange(int(alone.sum()))  # no id: a group of its own
            what = f"data.group={column!r}"
        sizes = np.bincount(codes)
        print(
            f"data: {len(sizes)} groups ({what}; {sizes.min()}-{sizes.max()} rows each): each group stays in one split"
        )
        return codes

    def _column_kinds(self, frame: pd.DataFrame, columns: list[str]) -> tuple[dict, dict]:
        """Each input column's kind, read as a person would: dates and times become numbers,
        a numeric column with '?' or '-' for gaps stays numeric; constant columns are left out
        and ID-like ones named (each said in one line: the run's first lines)."""
        self._frame, self._factorize_cache = frame, {}
        kinds, read, constant, ids = {}, {}, [], []
        with ThreadPoolExecutor(_THREADS) as pool:  # hashing text columns releases the GIL
            judged = list(pool.map(lambda name: self._judge_column(frame[name], name), columns))
        for name, (kind, how, role) in zip(columns, judged):
            if role == "constant":
                constant.append(name)
                continue
            if role == "id":
                ids.append(name)
            kinds[name] = kind
            if how:
                read[name] = how
                if how.get("missing"):
                    print(f"data: column {name!r} is numbers with {_token_counts(how, frame[name])} read as missing")
                else:
                    print(f"data: column {name!r} holds {how['as']} and is read as a number ({_UNITS[how['as']]})")
        if constant:
            print(f"data: constant column(s) {', '.join(map(repr, constant))} left out (one value in every row)")
        if ids:
            fix = f"data.drop=[{','.join(self.drop + ids)}]"
            print(
                f"data: column(s) {', '.join(map(repr, ids))} look like row IDs (a different value in every row or "
                f"a running number), probably not inputs; {fix} leaves them out"
            )
        if not kinds:
            raise ConfigError(f"every feature column of {self.path} is constant; there is nothing to learn from")
        return kinds, read

    def _judge_column(self, column: pd.Series, name: str) -> tuple[str, dict | None, str | None]:
        """(kind, how its text reads as numbers or None, "constant" / "id" / None)."""
        _refuse_nested(column, name, self.path)
        declared = name in self.numeric or name in self.categorical
        how = None if declared else _reading_of(column, lambda: self._factorized(self._frame, name))
        kind = "numeric" if how else _kind(column, name in self.numeric, name in self.categorical)
        if not declared and self._is_constant(name, kind, column, how):
            return kind, how, "constant"
        if not declared and how is None and self._is_id_like(name, kind, column):
            return kind, how, "id"
        return kind, how, None

    def _is_constant(self, name: str, kind: str, column: pd.Series, how: dict | None) -> bool:
        if kind == "numeric" and how is None and is_numeric_dtype(column.dtype):
            values = _as_numbers(column)
            probe = values[:: max(1, len(values) // 64)]  # two different values among 64: not constant, at once
            if np.fmin.reduce(probe) < np.fmax.reduce(probe):
                return False
            lo, hi = np.fmin.reduce(values), np.fmax.reduce(values)  # NaN-skipping, and no copy
            return bool(np.isnan(lo) or (lo == hi and not np.isnan(values).any()))
        if kind == "categorical":
            codes, texts = self._factorized(self._frame, name)
            return len(texts) <= 1 and not (len(texts) == 1 and (codes < 0).any())
        return False

    def _is_id_like(self, name: str, kind: str, column: pd.Series) -> bool:
        """Text unique per row, or whole numbers that run through 0..n-1 / 1..n (in any order).
        Measures (floats) are unique per row by nature and never named."""
        n = len(column)
        if n < 20:
            return False
        if kind == "categorical" and not is_bool_dtype(column.dtype):
            codes, texts = self._factorized(self._frame, name)
            return len(texts) == n
        if kind == "numeric" and pd.api.types.is_integer_dtype(column.dtype):
            values = column.to_numpy()
            lo, hi = int(values.min()), int(values.max())
            return hi - lo == n - 1 and lo in (0, 1) and bool((np.bincount(values - lo) == 1).all())
        return False

    def _without_missing_targets(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The rows that have a target, and their row numbers in the file (None: all rows).
        A row without a target can be neither trained on nor scored, so it is left out of
        every split and said; data.missing_target=error stops instead."""
        missing = frame[self.target].isna().to_numpy()
        count = int(missing.sum())
        self.skipped_rows = np.flatnonzero(missing)
        if not count:
            return frame, None
        if self.missing_target == "error" or count == len(frame):
            raise ConfigError(
                f"data.target={self.target!r} is missing in {count} of {len(frame)} rows; drop those rows or fill "
                f"them in {self.path}" + ("" if count == len(frame) else " (data.missing_target=skip leaves them out)")
            )
        print(
            f"data: {count} of {len(frame)} rows have no {self.target!r} and are left out of training and scoring "
            f"(missing_targets.csv in the run folder lists them); data.missing_target=error stops instead"
        )
        return frame[~missing].reset_index(drop=True), np.flatnonzero(~missing)

    def _targets(self, frame: pd.DataFrame) -> tuple[np.ndarray, tuple | None]:
        column = frame[self.target]
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        if len(uniques) < 2:
            raise ConfigError(
                f"data.target={self.target!r} has the single value {_plain(uniques[0])!r} in all {len(column)} rows; "
                "there is nothing to learn: check data.target"
            )
        # Numbers stay numbers; class names become str objects, which the data module maps to ids
        # (built from the distinct values: one str object per class, not one per row).
        if is_numeric_dtype(column.dtype):
            return column.to_numpy(), None
        uniques = np.asarray(uniques, dtype=object)
        return uniques[codes], (codes, uniques)

    def _domain(self, frame: pd.DataFrame) -> np.ndarray | None:
        if self.domain is None:
            return None
        column = frame[self.domain]
        missing = int(column.isna().sum())
        if missing:
            raise ConfigError(
                f"data.domain={self.domain!r} is missing in {missing} of {len(column)} rows; fill them (1 "
                "= target distribution, 0 = training)"
            )
        codes, texts = _factorize(column)
        if self.target_domain is not None:
            wanted = _as_text(self.target_domain)
            if wanted not in texts:
                raise ConfigError(
                    f"data.target_domain={self.target_domain!r} matches no row of data.domain={self.domain!r}; "
                    f"its values are: {_some(texts)}"
                )
            is_target = np.array([t == wanted for t in texts])
        elif set(texts) <= {"0", "1", "True", "False"}:
            is_target = np.array([t in ("1", "True") for t in texts])
        else:
            raise ConfigError(
                f"data.domain={self.domain!r} has values {_some(texts)}, not 0/1; "
                "set data.target_domain=VALUE (rows with that value are the target distribution)"
            )
        return is_target[codes].astype(np.int64)

    # -- fit: every statistic from the train rows alone ---------------------------------

    def fit(self, train_index: np.ndarray) -> None:
        frame = self._loaded()
        if len(train_index) == 0:
            raise ValueError("fit() needs at least one train row")
        rows = _TrainRows(train_index, len(frame))

        def fit_column(item):  # -> (entry, its output names, its stats rows, its notes)
            name, kind = item
            stats, notes = [], []
            if kind == "numeric":
                how = self._read.get(name)
                entry, encoded = _fit_numeric(name, _read_numbers(frame[name], how), rows, stats, notes)
                self._encoded_cache[name] = encoded
                if how:
                    entry["read"] = dict(how)
                return entry, [name] + ([f"{name}_missing"] if entry["indicator"] else []), stats, notes
            entry = self._fit_categorical(name, rows.mask, stats, notes)
            names = [f"{name}={c}" for c in entry["categories"]] + [f"{name}={MISSING}", f"{name}={OTHER}"]
            return entry, names, stats, notes

        self._encoded_cache = {}  # numeric columns as fit() encoded them, for the first features()
        with ThreadPoolExecutor(_THREADS) as pool:
            fitted = list(pool.map(fit_column, self._kinds.items()))
        self._columns = [entry for entry, _, _, _ in fitted]
        self.feature_names = [n for _, names, _, _ in fitted for n in names]
        self._stats: list[tuple[float, float, float, float]] = [r for _, _, stats, _ in fitted for r in stats]
        self.notes = [n for _, _, _, notes in fitted for n in notes]
        self.input_shape = (len(self.feature_names),)
        self._train_rows = rows.n

    def train_statistics(self) -> dict:
        """Per encoded column over the train rows: sum, sum of squares, min, max, and the row count,
        as the data module's Standardizer would sum features()[train] (float32 values, float64
        sums). Read off what fit() already holds (a one-hot column's sum is its count), so a
        million-row table is not summed a second time."""
        total, squares, lo, hi = (torch.tensor(column, dtype=torch.float64) for column in zip(*self._stats))
        return {"total": total, "squares": squares, "n": self._train_rows, "lo": lo, "hi": hi}

    def _fit_categorical(self, name: str, train: np.ndarray, stats: list, notes: list) -> dict:
        codes, texts = self._factorized(self._frame, name)
        train_codes = codes[train]
        counts_by_code = np.bincount(train_codes[train_codes >= 0], minlength=len(texts))
        counts: dict[str, int] = {}
        for text, count in zip(texts, counts_by_code.tolist()):  # over distinct values, not rows
            if count:
                counts[text] = counts.get(text, 0) + count
        # Most frequent first, ties by name, so the kept set does not depend on row order.
        ranked = sorted(counts, key=lambda t: (-counts[t], t))
        kept, rare = ranked[: self.max_categories], ranked[self.max_categories :]
        if rare:
            rare_rows = sum(counts[t] for t in rare)
            notes.append(
                f"{name}: {len(rare)} categories beyond the {self.max_categories} most frequent in train "
                f"({rare_rows} train rows) go to {name}={OTHER}; raise data.max_categories to keep them"
            )
        n, missing = len(train_codes), int((train_codes < 0).sum())
        for category in sorted(kept):  # the one-hot slots in order: categories, <missing>, <other>
            stats.append(_count_stats(counts[category], n))
        stats.append(_count_stats(missing, n))
        stats.append(_count_stats(n - missing - sum(counts[c] for c in kept), n))
        return {"name": name, "kind": "categorical", "categories": sorted(kept)}

    # -- transform with the fitted state only ------------------------------------------

    def features(self, mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> torch.Tensor:
        """Every row encoded; with mean and std (per encoded column) also standardized, (x - mean)
        / std in float32 as the data module's Standardizer computes it, to the bit."""
        return self._transform(self._loaded(), where=f"data.path={self.path}", mean=mean, std=std)

    def read_new(self, path: str) -> tuple[torch.Tensor, list[str]]:
        self._fitted()
        self.read_notes = []  # what predict should say about these rows (unseen categories)
        frame = _read_table(path, f"input={path}", self.sep, self.encoding)
        absent = [e["name"] for e in self._columns if e["name"] not in frame.columns]
        if absent:
            raise ConfigError(
                f"input={path} lacks the column(s) {', '.join(map(repr, absent))} the model was trained on; "
                "add them (empty values are fine: they are imputed)"
            )
        return self._transform(frame, where=f"input={path}"), [f"row {i}" for i in range(len(frame))]

    def _transform(self, frame: pd.DataFrame, where: str, mean=None, std=None) -> torch.Tensor:
        entries, firsts, j = self._fitted(), [], 0
        for entry in entries:  # each column's first output column
            firsts.append(j)
            j += 1 + entry["indicator"] if entry["kind"] == "numeric" else len(entry["categories"]) + 2
        zero, one = np.zeros(j, dtype=np.float32), np.ones(j, dtype=np.float32)
        if mean is not None:  # what a 0 and a 1 become in each column
            m, s = mean.numpy().astype(np.float32), std.numpy().astype(np.float32)
            zero, one = (zero - m) / s, (one - m) / s

        def encode(item):
            entry, first = item
            kind, parts, note = self._encode_column(frame, entry, where)
            if kind == "onehot":
                return [], [(first, parts)], note
            if mean is not None:
                for c, v in enumerate(parts, first):  # in place: the arrays are this call's own
                    np.divide(np.subtract(v, m[c], out=v), s[c], out=v)
            return list(enumerate(parts, first)), [], note

        with ThreadPoolExecutor(_THREADS) as pool:
            encoded = list(pool.map(encode, zip(entries, firsts)))
        self.read_notes += [note for _, _, note in encoded if note]  # in column order, whichever thread ran first
        dense = [d for ds, _, _ in encoded for d in ds]
        onehot = [o for _, os_, _ in encoded for o in os_]
        # Filled in tiles of rows: writing whole columns into a large row-major matrix would
        # sweep all of its memory once per column (3-5x slower at 1M rows x 100 columns), and
        # zeroing it all up front would sweep it once more. torch.empty, not numpy: numpy asks
        # for huge pages, whose first touch can cost 2-4x.
        result = torch.empty((len(frame), j), dtype=torch.float32)
        out = result.numpy()

        def fill(start: int) -> None:
            stop = min(start + _TILE_ROWS, len(frame))
            tile = out[start:stop]
            tile[:] = zero
            for column, values in dense:
                tile[:, column] = values[start:stop]
            rows = np.arange(stop - start)
            for first, slots in onehot:
                hot = first + slots[start:stop]
                tile[rows, hot] = one[hot]

        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(fill, range(0, len(frame), _TILE_ROWS)))
        return result

    def _encode_column(self, frame: pd.DataFrame, entry: dict, where: str) -> tuple[str, list | np.ndarray, str | None]:
        """("dense", [float32 values, its missing indicator], None) or ("onehot", the slot of each
        row, what predict should say about its unseen values or None)."""
        name = entry["name"]
        if entry["kind"] == "numeric" and frame is self._frame and name in self._encoded_cache:
            return "dense", self._encoded_cache.pop(name), None  # fit() built them; only the first call reuses them
        if entry["kind"] == "numeric":
            how = entry.get("read")
            values = _read_numbers(
                frame[name],
                how,
                f"{where}: column {name!r} is {_UNITS[how['as']].split(',')[0] if how and how.get('as') else 'numeric'} "
                "in training but has the value",
                "fix it or leave it empty (missing values are imputed)",
            )
            missing = np.isnan(values)
            filled = values.astype(np.float32)
            filled[missing] = entry["median"]
            return "dense", [filled] + ([missing.astype(np.float32)] if entry["indicator"] else []), None
        categories = entry["categories"]
        missing_slot, other_slot = len(categories), len(categories) + 1
        codes, texts = self._factorized(frame, name)
        slot_of_category = {c: s for s, c in enumerate(categories)}
        # One lookup per distinct value, then one gather for all rows; code -1 (missing) reads the last entry.
        slot_of_code = np.array([slot_of_category.get(t, other_slot) for t in texts] + [missing_slot], dtype=np.int64)
        note = None if frame is self._frame else self._unseen_note(name, codes, texts, slot_of_code, other_slot)
        return "onehot", slot_of_code[codes], note

    @staticmethod
    def _unseen_note(name: str, codes, texts, slot_of_code, other_slot: int) -> str | None:
        """New data (predict): categories the model has no input for, named with their row counts."""
        unseen = np.flatnonzero(slot_of_code[: len(texts)] == other_slot)
        if not len(unseen):
            return None
        counts = np.bincount(codes[codes >= 0], minlength=len(texts))[unseen]
        shown = ", ".join(f"{texts[u]!r} ({c} row{'s' * (c != 1)})" for u, c in list(zip(unseen, counts.tolist()))[:5])
        more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
        return (
            f"column {name!r} has value(s) the model has no input for (unseen or rare in train): {shown}{more}; "
            f"they are read as {name}={OTHER}"
        )

    def _factorized(self, frame: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
        """_factorize, remembered for the training frame: fit() and features() share it."""
        if frame is not self._frame:
            return _factorize(frame[name])
        if name not in self._factorize_cache:
            self._factorize_cache[name] = _factorize(frame[name])
        return self._factorize_cache[name]

    # -- reports and checkpoints --------------------------------------------------------

    def describe(self, i: int) -> dict:
        """Row i as it is in the file (every column, the target too); missing values are None."""
        row = self._loaded().iloc[int(i)]
        return {str(k): _plain(v) for k, v in row.items()}

    def state_dict(self) -> dict:
        """Plain data only: survives torch.load(weights_only=True) and json.dumps. Empty before fit()."""
        if self._columns is None:
            return {}
        return {
            "format": _FORMAT,
            "path": self.path,
            "target": self.target,
            "domain": self.domain,
            "group": self.group,
            "target_domain": self.target_domain,
            "max_categories": self.max_categories,
            "sep": self.sep,
            "encoding": self.encoding,
            "columns": [dict(e) for e in self._columns],
            "feature_names": list(self.feature_names),
            "input_shape": list(self.input_shape),
            "notes": list(self.notes),
        }

    def load_state_dict(self, state: dict) -> None:
        if not state:  # saved before fit(): nothing was fitted
            return
        if state.get("format") != _FORMAT:
            raise ValueError(f"table state of format {state.get('format')!r}; this version reads {_FORMAT!r}")
        self.target, self.domain, self.target_domain = state["target"], state["domain"], state["target_domain"]
        self.max_categories = state["max_categories"]
        self.sep, self.encoding = state.get("sep"), state.get("encoding")
        self._columns = [dict(e) for e in state["columns"]]
        self._kinds = {e["name"]: e["kind"] for e in self._columns}
        self.feature_names = list(state["feature_names"])
        self.input_shape = tuple(state["input_shape"])
        self.notes = list(state["notes"])

    def _loaded(self) -> pd.DataFrame:
        if self._frame is None:
            raise RuntimeError("TableSource.load() has not been called")
        return self._frame

    def _fitted(self) -> list[dict]:
        if self._columns is None:
            raise RuntimeError("TableSource.fit() (or load_state_dict) has not been called")
        return self._columns


def _read_table(path, label: str, sep=None, encoding=None, say: bool = False) -> pd.DataFrame:
    """The file as a DataFrame, or a one-line ConfigError; `label` says which setting named it.
    sep / encoding None: detected, and said (when say) if not "," / UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{label} does not exist; pass the path of a .csv, .tsv or .parquet file (relative to where you run)"
        )
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] in _COMPRESSED
    if compressed:  # pandas decompresses by extension
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise ConfigError(
            f"{label}: unknown file type {suffix or path.name!r}; use a .csv, .tsv or .parquet file (export spreadsheets as CSV)"
        )
    if suffix in (".parquet", ".pq"):
        return _named_columns(_parse(lambda: pd.read_parquet(path, engine="pyarrow"), label, suffix))
    if not compressed:
        _refuse_a_workbook(path, label)
    head, encoding = _text_head(path, encoding, label, say and not compressed)
    if sep is None:
        sep = "\t" if suffix == ".tsv" else _separator(head)
        if say and sep != ",":
            print(f"data: {label} is read with the separator {sep!r} (data.sep={sep!r} sets it)")
    frame = _parse(lambda: pd.read_csv(path, sep=sep, encoding=encoding), label, suffix)
    _say_duplicate_names(head, sep, label, say)
    return _named_columns(frame)


def _parse(read, label: str, suffix: str) -> pd.DataFrame:
    try:
        frame = read()
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except Exception as e:  # noqa: BLE001 - parser, decoding and Arrow errors all mean "cannot read"
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        hint = "set data.encoding (e.g. cp1252)" if isinstance(e, UnicodeDecodeError) else "check the file's format"
        raise ConfigError(f"{label} cannot be read as {suffix[1:].upper()} ({reason}); {hint}") from None
    if len(frame) == 0:
        raise ConfigError(f"{label} has no rows; it needs a header line and at least one data row")
    return frame


def _named_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c) for c in frame.columns]
    return frame


_WORKBOOKS = {b"PK\x03\x04": "an Excel workbook (.xlsx)", b"\xd0\xcf\x11\xe0": "an Excel workbook (.xls)"}


def _refuse_a_workbook(path: Path, label: str) -> None:
    with path.open("rb") as f:
        magic = f.read(4)
    if magic in _WORKBOOKS:
        raise ConfigError(
            f"{label} is {_WORKBOOKS[magic]}, not CSV text, whatever its name says; save it as CSV "
            "(Excel: File > Save As > CSV UTF-8) and pass that file"
        )


def _text_head(path: Path, encoding, label: str, say: bool) -> tuple[str, str]:
    """(the file's first 64 kB as text, its encoding): UTF-8 unless that cannot decode it, then
    cp1252 (Windows' Western default, what Excel writes) and latin-1 (which decodes any byte)."""
    raw = path.read_bytes()[: 1 << 16] if path.stat().st_size <= 1 << 16 else _first_bytes(path, 1 << 16)
    for candidate in [encoding] if encoding else ["utf-8", "cp1252", "latin-1"]:
        try:
            text = raw.decode(candidate)
        except UnicodeDecodeError as e:
            if e.start >= len(raw) - 3:  # the 64 kB cut a character in two
                text = raw[: e.start].decode(candidate)
            elif encoding:
                raise ConfigError(
                    f"{label} is not {encoding} text ({e.reason} at byte {e.start}); set data.encoding"
                ) from None
            else:
                continue
        if say and candidate != (encoding or "utf-8"):
            print(f"data: {label} is not UTF-8; read as {candidate} (data.encoding={candidate} sets it)")
        return text, candidate
    return raw.decode("latin-1"), "latin-1"


def _first_bytes(path: Path, n: int) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def _separator(head: str) -> str:
    """',' unless another of ; tab | splits the first lines into more, equal numbers of fields."""
    lines = [line for line in head.splitlines()[:20] if line.strip()][:-1] or head.splitlines()[:1]
    best, best_fields = ",", 0
    for sep in (",", ";", "\t", "|"):
        counts = {line.count(sep) for line in lines}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = sep, fields
    return best


def _say_duplicate_names(head: str, sep: str, label: str, say: bool) -> None:
    """pandas renames a repeated header x to x.1, x.2: said, so the names a user types match."""
    import csv
    from collections import Counter

    try:
        header = next(csv.reader([head.splitlines()[0]], delimiter=sep))
    except (StopIteration, csv.Error, IndexError):
        return
    repeated = {name: n for name, n in Counter(h.strip() for h in header).items() if n > 1}
    if say and repeated:
        shown = "; ".join(
            f"{name!r} {n} times, read as {', '.join([name] + [f'{name}.{i}' for i in range(1, n)])}"
            for name, n in repeated.items()
        )
        print(f"data: {label} repeats column names: {shown}; rename them in the file to choose the names")


def _refuse_nested(column: pd.Series, name: str, path) -> None:
    """A Parquet column of lists or dicts has no one value per row to encode."""
    if column.dtype != object and "list" not in str(column.dtype) and "struct" not in str(column.dtype):
        return
    present = column.dropna()
    first = present.iloc[0] if len(present) else None
    if (
        isinstance(first, (list, tuple, dict, np.ndarray))
        or "list" in str(column.dtype)
        or "struct" in str(column.dtype)
    ):
        what = "dicts" if isinstance(first, dict) or "struct" in str(column.dtype) else "lists"
        raise ConfigError(
            f"column {name!r} of {path} holds {what} (e.g. {_short(first)}), not one value per row; "
            f"data.drop=[{name}] leaves it out (or spread it into columns of its own)"
        )


def _short(value) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 40 else text[:37] + "..."


# Cells that mean "no value" in a column of numbers; pandas already reads '', NA, N/A, null as missing.
MISSING_TOKENS = {"?", "-", "--", ".", "n/a", "na", "nan", "none", "null", "missing", "unknown", "#n/a", ""}
_UNITS = {"dates": "days since 1970-01-01, fractions for the time of day", "times": "hours since midnight"}
_DATE = r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
_TIME = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"


def _reading_of(column: pd.Series, factorized) -> dict | None:
    """How a column of text is read as numbers, or None (it is not numbers): ISO dates and
    times of day; numbers with missing-value tokens such as '?' (they become gaps)."""
    if is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype):
        return None
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return {"as": "dates"}
    codes, texts = factorized()  # the distinct values: judged once each, not once per row
    if not texts:
        return None
    values = pd.Series(texts, dtype=object).str.strip()
    for kind, pattern in (("dates", _DATE), ("times", _TIME)):
        if values.str.fullmatch(pattern).all():
            return {"as": kind}
    numbers = pd.to_numeric(values, errors="coerce")
    tokens = sorted(set(values[numbers.isna()]))
    if numbers.notna().any() and tokens and all(t.lower() in MISSING_TOKENS for t in tokens):
        return {"missing": tokens}
    return None


def _token_counts(how: dict, column: pd.Series) -> str:
    stripped = column.astype(object).where(column.notna(), None).map(lambda v: v.strip() if isinstance(v, str) else v)
    counts = stripped.value_counts()
    return ", ".join(f"{t!r} in {int(counts.get(t, 0))} rows" for t in how["missing"])


def _read_numbers(column: pd.Series, how: dict | None, problem: str = "", fix: str = "") -> np.ndarray:
    """float64 values, NaN where missing, for a numeric column read as `how` says (None: plain numbers)."""
    if not how:
        return _as_numbers(column, problem, fix)
    if how.get("missing"):
        text = column.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
        return _as_numbers(text.where(~text.isin(how["missing"]), None), problem, fix)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = column
    else:
        text = column.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
        stamps = _parse_stamps(text, how["as"], problem, fix)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    nanoseconds = stamps.astype("datetime64[ns]").to_numpy().astype(np.int64).astype(np.float64)
    nanoseconds[stamps.isna().to_numpy()] = np.nan
    return nanoseconds / (86_400e9 if how["as"] == "dates" else 3_600e9)


def _parse_stamps(text: pd.Series, kind: str, problem: str, fix: str) -> pd.Series:
    if kind == "times":
        stamps = pd.to_datetime("1970-01-01 " + text.where(text.notna(), ""), format="ISO8601", errors="coerce")
    else:
        stamps = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    bad = np.flatnonzero(stamps.isna().to_numpy() & text.notna().to_numpy() & (text != "").to_numpy())
    if bad.size:
        raise ConfigError(f"{problem} {text.iloc[bad[0]]!r} (row {bad[0]}, {bad.size} such rows); {fix}")
    return stamps


def _kind(column: pd.Series, numeric: bool, categorical: bool) -> str:
    if numeric:
        return "numeric"
    if categorical:
        return "categorical"
    dtype = column.dtype
    return "numeric" if is_numeric_dtype(dtype) and not is_bool_dtype(dtype) else "categorical"


def _as_numbers(column: pd.Series, problem: str = "", fix: str = "") -> np.ndarray:
    """float64 values, NaN where missing; a value that is not a number is a ConfigError."""
    if column.dtype == np.float64:
        return column.to_numpy()  # no copy
    if is_numeric_dtype(column.dtype):  # ints, bools, nullable and Arrow-backed numbers
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    values = pd.to_numeric(column.astype(object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(values) & column.notna().to_numpy())
    if bad.size:
        raise ConfigError(f"{problem} {_plain(column.iloc[bad[0]])!r} (row {bad[0]}, {bad.size} such rows); {fix}")
    return values


def _count_stats(count: int, n: int) -> tuple[float, float, float, float]:
    """(sum, sum of squares, min, max) of a 0/1 column that is 1 in `count` of the n train rows."""
    return (float(count), float(count), float(count == n), float(count > 0))


def _fit_numeric(name: str, values: np.ndarray, rows: _TrainRows, stats: list, notes: list) -> tuple[dict, list]:
    """The column's entry and its encoded columns over every row (float32 values with the gaps
    filled, and the missing indicator when it has one), which features() reuses. Sums over
    train are the sums over all rows less those of the few other rows: one pass, no copy of
    the train rows."""
    missing = np.isnan(values)
    missing_in_train = int(missing.sum()) - int(missing[rows.others].sum())
    present = rows.n - missing_in_train
    if present == 0:
        median = 0.0
        notes.append(f"{name}: no value in the train rows; its missing values become 0")
    else:
        sample = values[rows.median_sample]
        sample = sample[~np.isnan(sample)]
        median = _median_of_present(sample, len(sample)) if len(sample) else float(np.nanmedian(values[rows.mask]))
    indicator = missing_in_train > 0
    filled = values.astype(np.float32)  # as features() fills every row
    filled[missing] = np.float32(median)
    other = filled[rows.others]
    total = filled.sum(dtype=np.float64) - other.sum(dtype=np.float64)
    # einsum, not a BLAS dot: OpenBLAS's own threads stall beside fit()'s
    squares = np.einsum("i,i->", filled, filled, dtype=np.float64) - np.einsum("i,i->", other, other, dtype=np.float64)
    stats.append((float(total), float(squares), *rows.extremes(filled)))
    encoded = [filled]
    if indicator:
        stats.append(_count_stats(missing_in_train, rows.n))
        encoded.append(missing.astype(np.float32))
    elif missing.any():
        notes.append(
            f"{name}: complete in train, so no {name}_missing column; "
            f"its {int(missing.sum())} missing values outside train get the train median"
        )
    return {"name": name, "kind": "numeric", "median": median, "indicator": indicator}, encoded


class _TrainRows:
    """The train rows of a table, in the forms fit() reads them: a mask, the other rows'
    positions, and the positions an imputation median is read from (all train rows, or every
    k-th of them, at most _MEDIAN_SAMPLE: a fill value does not need the exact median of a
    million values, and finding it costs more than the rest of fit)."""

    def __init__(self, train_index: np.ndarray, n_rows: int):
        self.mask = np.zeros(n_rows, dtype=bool)
        self.mask[np.asarray(train_index, dtype=np.int64)] = True
        self.others = np.flatnonzero(~self.mask)
        self.n = n_rows - len(self.others)
        positions = np.flatnonzero(self.mask)  # every k-th train row: spread over the whole file, no RNG
        self.median_sample = positions[:: -(-len(positions) // _MEDIAN_SAMPLE)]

    def extremes(self, values: np.ndarray) -> tuple[float, float]:
        """(min, max) over the train rows: over all rows when they fall on a train row (nearly always)."""
        lo, hi = int(values.argmin()), int(values.argmax())
        low = values[lo] if self.mask[lo] else values[self.mask].min()
        high = values[hi] if self.mask[hi] else values[self.mask].max()
        return float(low), float(high)


def _median_of_present(values: np.ndarray, present: int) -> float:
    """The median of the non-NaN values, reordering `values` in place. NaN sorts last, so one
    partition finds it; np.median would copy, and np.nanmedian or two k's cost 4x more."""
    middle = present // 2
    values.partition(middle)
    upper = values[middle]
    return float(upper if present % 2 else (values[:middle].max() + upper) / 2)


def _factorize(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes [N], texts): codes index texts, -1 = missing. Values become the text they
    read as, so one category matches across files: 7 and 7.0 (a column with gaps) are '7'."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), [_as_text(u) for u in uniques]


def _as_text(value) -> str:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value):
    """A cell as str, int, float, bool or None (missing), for state, reports and JSON."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if np.isnan(value) else value
    if not isinstance(value, (list, tuple, dict)) and pd.isna(value):
        return None
    return str(value)


def _column_list(value) -> list[str] | None:
    """None, one column name, or a list of them (a Hydra ListConfig too) -> list of str."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class _RowNames(Sequence):
    """ "row 0", "row 1", ... made when asked for: a million rows need no million strings.
    `rows`: the file's row number of each example, where some rows were left out."""

    def __init__(self, n: int, rows: np.ndarray | None = None):
        self.n, self.rows = n, rows

    def __len__(self) -> int:
        return self.n

    def _name(self, i: int) -> str:
        return f"row {i if self.rows is None else int(self.rows[i])}"

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._name(j) for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return self._name(i % self.n)


def _row_names(n: int, rows: np.ndarray | None = None) -> Sequence[str]:
    return _RowNames(n, rows)


def _some(texts: list[str], k: int = 8) -> str:
    shown = ", ".join(map(repr, sorted(texts)[:k]))
    return shown + (f", ... ({len(texts)} distinct)" if len(texts) > k else "")
