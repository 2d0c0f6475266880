"""Real tables nobody here made, as they ship inside packages (scikit-learn, statsmodels,
vega_datasets: no download), written to CSV as they come. The battery (test_real_data.py) and
benchmarks/bench_real_data.py read them from here.

Each entry says why it is in the battery (what about real data it exercises) and which warnings a
careful practitioner reading them would thank us for: any other warning on it is a false alarm."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class RealTable:
    name: str
    load: Callable[[], pd.DataFrame]
    target: str
    why: str
    expected_warnings: dict[str, str] = field(default_factory=dict)  # check id -> why it is a real finding

    def write_csv(self, folder: Path) -> Path:
        path = Path(folder) / f"{self.name}.csv"
        if not path.exists():
            self.load().to_csv(path, index=False)
        return path


def _sklearn(name: str, **kwargs) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        return getattr(sklearn.datasets, f"load_{name}")(as_frame=True, **kwargs).frame

    return load


def _statsmodels(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import importlib

        return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data

    return load


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import local_data

        return getattr(local_data, name)()

    return load


IMBALANCE = "a real imbalance: always predicting the largest class scores as the check says (accuracy paradox)"

TABLES = [
    RealTable("wine", _sklearn("wine"), "target", "integer class ids, 178 rows, 13 numeric columns"),
    RealTable("iris", _sklearn("iris"), "target", "integer class ids, 150 rows, rows that repeat"),
    RealTable("breast_cancer", _sklearn("breast_cancer"), "target", "binary 0/1, 30 numeric columns of wide ranges"),
    RealTable("diabetes", _sklearn("diabetes", scaled=False), "target", "regression on an integer-valued target"),
    RealTable("fair", _statsmodels("fair"), "affairs", "regression, 6366 rows, a float target with many zeros"),
    RealTable("anes96", _statsmodels("anes96"), "vote", "binary target stored as 0.0/1.0 floats"),
    RealTable("modechoice", _statsmodels("modechoice"), "choice", "binary float target, one row per person and mode"),
    RealTable("spector", _statsmodels("spector"), "GRADE", "32 rows: the tiny table"),
    RealTable(
        "cars_mpg", _vega("cars"), "Miles_per_Gallon", "regression with missing targets, a date and a name column"
    ),
    RealTable("cars_origin", _vega("cars"), "Origin", "string classes, missing inputs, a date and a name column"),
    RealTable(
        "seattle_weather",
        _vega("seattle_weather"),
        "weather",
        "string classes, a date column, rows that can repeat",
        {"data.class_balance": IMBALANCE},
    ),
    RealTable("barley", _vega("barley"), "site", "all-categorical but one column: rows repeat by nature"),
]
