"""What does a table cost beyond reading it? TableSource against pandas.read_csv alone.

  read     pandas.read_csv(path): what any table pipeline pays at least
  source   TableSource: load() (the same read, plus the target, names and checks),
           fit(~98% of rows as train), features() (the float32 tensor of every row)
  module   what data=table costs before the first batch: FourSplitDataModule.setup() with a
           TableSource (the source's work, plus the four splits, string labels to class ids,
           standardization fitted on train and applied to every row)

One generated CSV (--rows rows, default 1,000,000; 20 columns: 16 numeric of which 4 have
~5% gaps, 3 string categorical columns of 4, 40 and 2,000 values, a string target of 3
classes), written once into a temporary folder. Both run in the same process, in each round
in alternating order so caches and machine noise hit them alike; each ratio is the median
over rounds of source / read within a round. Goal: <= 2x. Figures only; nothing is asserted.

    PYTHONPATH=src python benchmarks/bench_tables.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule
from {{cookiecutter.package_name}}.data.tables import TableSource

GOAL = 2.0


def write_table(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, rows)
    columns = {}
    for k in range(16):
        values = rng.standard_normal(rows) * (k + 1) + label * 0.3
        if k < 4:
            values[rng.random(rows) < 0.05] = np.nan
        columns[f"x{k}"] = values.round(4)
    for name, size in (("color", 4), ("city", 40), ("shop", 2000)):
        levels = np.array([f"{name}_{i}" for i in range(size)], dtype=object)
        values = levels[rng.zipf(1.5, rows) % size]
        values[rng.random(rows) < 0.03] = None
        columns[name] = values
    columns["label"] = np.array(["cat", "dog", "bird"], dtype=object)[label]
    pd.DataFrame(columns).to_csv(path, index=False)


def time_read(path: Path) -> float:
    start = time.perf_counter()
    pd.read_csv(path)
    return time.perf_counter() - start


def time_source(path: Path, rows: int) -> tuple[float, dict]:
    train = np.random.default_rng(1).permutation(rows)[: int(0.98 * rows)]
    stages, start = {}, time.perf_counter()
    source = TableSource(path, "label")
    source.load()
    stages["load"] = time.perf_counter() - start
    source.fit(train)
    stages["fit"] = time.perf_counter() - start - stages["load"]
    x = source.features()
    stages["features"] = time.perf_counter() - start - stages["load"] - stages["fit"]
    stages["shape"] = tuple(x.shape)
    return time.perf_counter() - start, stages


def time_module(path: Path) -> float:
    start = time.perf_counter()
    FourSplitDataModule(TableSource(path, "label")).setup("fit")
    return time.perf_counter() - start


def main(rows: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        start = time.perf_counter()
        write_table(path, rows)
        print(
            f"wrote {rows:,} rows x 20 columns ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s, not counted"
        )
        time_read(path)  # warm-up: the file into the page cache, pandas' first-call costs
        reads, sources, ratios, module_ratios = [], [], [], []
        for r in range(rounds):
            if r % 2 == 0:
                read = time_read(path)
                gc.collect()
                source, stages = time_source(path, rows)
            else:
                source, stages = time_source(path, rows)
                gc.collect()
                read = time_read(path)
            gc.collect()
            module = time_module(path)
            gc.collect()
            (
                reads.append(read),
                sources.append(source),
                ratios.append(source / read),
                module_ratios.append(module / read),
            )
            print(
                f"round {r + 1}: read {read:.2f} s, source {source:.2f} s (load {stages['load']:.2f}, fit {stages['fit']:.2f}, "
                f"features {stages['features']:.2f}; {stages['shape'][0]:,} x {stages['shape'][1]}), ratio {source / read:.2f}x; "
                f"module setup {module:.2f} s, ratio {module / read:.2f}x"
            )
        ratio = statistics.median(ratios)
        print(
            f"median of {rounds}: pandas.read_csv {statistics.median(reads):.2f} s, TableSource load+fit+features "
            f"{statistics.median(sources):.2f} s, ratio {ratio:.2f}x (goal <= {GOAL:g}x: {'met' if ratio <= GOAL else 'NOT met'})"
        )
        module = statistics.median(module_ratios)
        print(
            f"median of {rounds}: the whole data module setup / pandas.read_csv {module:.2f}x "
            f"(goal <= {GOAL:g}x: {'met' if module <= GOAL else 'NOT met'})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    main(args.rows, args.rounds)
