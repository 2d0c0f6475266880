"""Your own table as a Source: a CSV, TSV or Parquet file, one example per row.

    python train.py data=table data.path=animals.csv data.target=animal

Every column but the target (and the optional domain column and data.drop) is a feature.
Numeric columns stay numbers; anything else (strings, booleans, categories) is one-hot
encoded. All preprocessing is fitted on the train rows alone, so dev and test never shape it:
  numeric      missing values -> the train median, plus a `<name>_missing` 0/1 column for
               every numeric column that has a missing value in the train rows (a column
               complete in train gets no indicator: its rare later gaps get the median alone)
  categorical  one column per category seen in train (the max_categories most frequent),
               plus `<name>=<missing>` and `<name>=<other>` (not seen in train, or too rare)
The data module standardizes the encoded columns afterwards; this file never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from .config import ConfigError
from .interface import Examples, Source

MISSING, OTHER = "<missing>", "<other>"
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst"}
_FORMAT = "table/1"  # bump when the state's layout changes
_TILE_ROWS = 4096  # rows per tile of the encoded matrix: ~1.6 MB at 100 columns, cache-sized


class TableSource(Source):
    in_memory = True
    kind = "table"

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
    ):
        self.path = None if path is None else str(path)
        self.target = None if target is None else str(target)
        self.requested_features = _column_list(features)
        self.drop = _column_list(drop) or []
        self.domain = None if domain is None else str(domain)
        self.target_domain = _plain(target_domain)
        self.numeric = _column_list(numeric) or []
        self.categorical = _column_list(categorical) or []
        if int(max_categories) < 1:
            raise ConfigError(
                f"data.max_categories={max_categories} must be >= 1 (how many categories per column get their own input)"
            )
        self.max_categories = int(max_categories)
        self.notes: list[str] = []  # what fit() decided that a person should know (rare categories, ...)
        self._frame: pd.DataFrame | None = None
        self._factorize_cache: dict[str, tuple[np.ndarray, list[str]]] = {}
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
        frame = _read_table(self.path, f"data.path={self.path}")
        columns = list(frame.columns)
        listed = ", ".join(columns[:30]) + (f", ... ({len(columns)} columns)" if len(columns) > 30 else "")
        if self.target not in columns:
            raise ConfigError(f"data.target={self.target!r} is not a column of {self.path}; its columns are: {listed}")
        for key, names in (
            ("data.features", self.requested_features or []),
            ("data.drop", self.drop),
            ("data.domain", [self.domain] if self.domain else []),
            ("data.numeric", self.numeric),
            ("data.categorical", self.categorical),
        ):
            unknown = [n for n in names if n not in columns]
            if unknown:
                raise ConfigError(
                    f"{key}: no column {', '.join(map(repr, unknown))} in {self.path}; its columns are: {listed}"
                )

        if self.requested_features is not None:
            for role, name in (("target", self.target), ("domain", self.domain)):
                if name in self.requested_features:
                    raise ConfigError(
                        f"data.features includes the {role} column {name!r}; remove it from data.features"
                    )
            feature_columns = [c for c in self.requested_features if c not in self.drop]
        else:
            feature_columns = [c for c in columns if c not in (self.target, self.domain) and c not in self.drop]
        if not feature_columns:
            raise ConfigError(
                f"no feature columns left in {self.path} (data.features, data.drop); keep at least one column besides data.target"
            )
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ConfigError(
                f"data.numeric and data.categorical both list {', '.join(map(repr, sorted(both)))}; keep each column in one"
            )

        self._kinds = {c: _kind(frame[c], c in self.numeric, c in self.categorical) for c in feature_columns}
        for name in self.numeric:
            if name in self._kinds:
                _as_numbers(
                    frame[name],
                    f"data.numeric lists column {name!r} but it has a non-numeric value",
                    f"fix the file or move {name} to data.categorical",
                )

        self._frame, self._factorize_cache = frame, {}
        return Examples(
            targets=self._targets(frame), names=_row_names(len(frame)), domain=self._domain(frame), class_names=None
        )

    def _targets(self, frame: pd.DataFrame) -> np.ndarray:
        column = frame[self.target]
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        missing = int((codes < 0).sum())
        if missing:
            raise ConfigError(
                f"data.target={self.target!r} is missing in {missing} of {len(column)} rows; drop those rows or fill them in {self.path}"
            )
        if len(uniques) < 2:
            raise ConfigError(
                f"data.target={self.target!r} has the single value {_plain(uniques[0])!r} in all {len(column)} rows; "
                "there is nothing to learn: check data.target"
            )
        # Numbers stay numbers; class names become str objects, which the data module maps to ids
        # (built from the distinct values: one str object per class, not one per row).
        if is_numeric_dtype(column.dtype):
            return column.to_numpy()
        return np.asarray(uniques, dtype=object)[codes]

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
        # A mask of the train rows: selecting by it reads each column in order, faster than by index.
        train = np.zeros(len(frame), dtype=bool)
        train[np.asarray(train_index, dtype=np.int64)] = True
        if not train.any():
            raise ValueError("fit() needs at least one train row")
        self.notes, self._columns, names = [], [], []
        for name, kind in self._kinds.items():
            if kind == "numeric":
                entry = self._fit_numeric(name, _as_numbers(frame[name]), train)
                names += [name] + ([f"{name}_missing"] if entry["indicator"] else [])
            else:
                entry = self._fit_categorical(name, train)
                names += [f"{name}={c}" for c in entry["categories"]] + [f"{name}={MISSING}", f"{name}={OTHER}"]
            self._columns.append(entry)
        self.feature_names = names
        self.input_shape = (len(names),)

    def _fit_numeric(self, name: str, values: np.ndarray, train: np.ndarray) -> dict:
        train_values = values[train]
        present = len(train_values) - int(np.isnan(train_values).sum())
        if present == 0:
            median = 0.0
            self.notes.append(f"{name}: no value in the train rows; its missing values become 0")
        else:
            median = _median_of_present(train_values, present)
        indicator = present < len(train_values)
        if not indicator:
            elsewhere = int(np.isnan(values).sum())
            if elsewhere:
                self.notes.append(
                    f"{name}: complete in train, so no {name}_missing column; "
                    f"its {elsewhere} missing values outside train get the train median"
                )
        return {"name": name, "kind": "numeric", "median": median, "indicator": indicator}

    def _fit_categorical(self, name: str, train: np.ndarray) -> dict:
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
            self.notes.append(
                f"{name}: {len(rare)} categories beyond the {self.max_categories} most frequent in train "
                f"({rare_rows} train rows) go to {name}={OTHER}; raise data.max_categories to keep them"
            )
        return {"name": name, "kind": "categorical", "categories": sorted(kept)}

    # -- transform with the fitted state only ------------------------------------------

    def features(self) -> torch.Tensor:
        return self._transform(self._loaded(), where=f"data.path={self.path}")

    def read_new(self, path: str) -> tuple[torch.Tensor, list[str]]:
        self._fitted()
        frame = _read_table(path, f"input={path}")
        absent = [e["name"] for e in self._columns if e["name"] not in frame.columns]
        if absent:
            raise ConfigError(
                f"input={path} lacks the column(s) {', '.join(map(repr, absent))} the model was trained on; "
                "add them (empty values are fine: they are imputed)"
            )
        return self._transform(frame, where=f"input={path}"), [f"row {i}" for i in range(len(frame))]

    def _transform(self, frame: pd.DataFrame, where: str) -> torch.Tensor:
        dense, onehot, j = [], [], 0  # (first output column, [N] values / [N] slot per row)
        for entry in self._fitted():
            name = entry["name"]
            if entry["kind"] == "numeric":
                values = _as_numbers(
                    frame[name],
                    f"{where}: column {name!r} is numeric in training but has the value",
                    "fix it or leave it empty (missing values are imputed)",
                )
                missing = np.isnan(values)
                filled = values.astype(np.float32)
                filled[missing] = entry["median"]
                dense.append((j, filled))
                if entry["indicator"]:
                    dense.append((j + 1, missing.astype(np.float32)))
                j += 1 + entry["indicator"]
            else:
                categories = entry["categories"]
                missing_slot, other_slot = len(categories), len(categories) + 1
                codes, texts = self._factorized(frame, name)
                slot_of_category = {c: s for s, c in enumerate(categories)}
                # One lookup per distinct value, then one gather for all rows; code -1 (missing) reads the last entry.
                slot_of_code = np.array(
                    [slot_of_category.get(t, other_slot) for t in texts] + [missing_slot], dtype=np.int64
                )
                onehot.append((j, slot_of_code[codes]))
                j += len(categories) + 2
        # Filled in tiles of rows: writing whole columns into a large row-major matrix would
        # sweep all of its memory once per column (3-5x slower at 1M rows x 100 columns), and
        # zeroing it all up front would sweep it once more. torch.empty, not numpy: numpy asks
        # for huge pages, whose first touch can cost 2-4x.
        result = torch.empty((len(frame), j), dtype=torch.float32)
        out = result.numpy()
        for start in range(0, len(frame), _TILE_ROWS):
            stop = min(start + _TILE_ROWS, len(frame))
            tile = out[start:stop]
            tile[:] = 0
            for column, values in dense:
                tile[:, column] = values[start:stop]
            rows = np.arange(stop - start)
            for first, slots in onehot:
                tile[rows, first + slots[start:stop]] = 1.0
        return result

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
            "target_domain": self.target_domain,
            "max_categories": self.max_categories,
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


def _read_table(path, label: str) -> pd.DataFrame:
    """The file as a DataFrame, or a one-line ConfigError; `label` says which setting named it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{label} does not exist; pass the path of a .csv, .tsv or .parquet file (relative to where you run)"
        )
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:  # pandas decompresses by extension
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise ConfigError(
            f"{label}: unknown file type {suffix or path.name!r}; use a .csv, .tsv or .parquet file (export spreadsheets as CSV)"
        )
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path, engine="pyarrow")
        else:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except Exception as e:  # noqa: BLE001 - parser, decoding and Arrow errors all mean "cannot read"
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(
            f"{label} cannot be read as {suffix[1:].upper()} ({reason}); check the file's format"
        ) from None
    if len(frame) == 0:
        raise ConfigError(f"{label} has no rows; it needs a header line and at least one data row")
    frame.columns = [str(c) for c in frame.columns]
    return frame


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
    """ "row 0", "row 1", ... made when asked for: a million rows need no million strings."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [f"row {j}" for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return f"row {i % self.n}"


def _row_names(n: int) -> Sequence[str]:
    return _RowNames(n)


def _some(texts: list[str], k: int = 8) -> str:
    shown = ", ".join(map(repr, sorted(texts)[:k]))
    return shown + (f", ... ({len(texts)} distinct)" if len(texts) > k else "")
