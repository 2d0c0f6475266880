"""What does data=streaming cost per epoch? The same examples served four ways, side by side.

  memory    the in-memory module (FourSplitDataModule): its train loader slices tensors in RAM
  streamed  data=streaming (StreamingDataModule) on local shards written by prepare_data.py:
            its train loader, batches (x, y, index)
  plain     a bare LitData loop: StreamingDataLoader(StreamingDataset(DIR/train, shuffle=True))
            with the same dataset settings (whole chunks decoded, full in-chunk shuffle), default collate
  litdata   the same bare loop with LitData's default dataset settings

The examples: digits tiled --scale times (default 100: 179,700 examples, 125,800 in train;
--scale 1000 is 1.8 M), each copy with a little noise. They are prepared once into a
temporary folder (timed, shown). One epoch of train batches is timed per way; the four run
back to back in each round, each first in turn, and each ratio is the median over rounds of
the ratio within a round. Then a training epoch through the project's own path (build +
trainer.fit: the checks off, no logger) on memory and on streamed data, the same way.
Goal: streamed >= 0.9 x plain (examples per second). Figures only; nothing is asserted.

    PYTHONPATH=src python benchmarks/bench_streaming.py [--scale 100] [--rounds 5] [--workers 0] [--fit-rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir

from {{cookiecutter.package_name}}.build import build, build_datamodule, prepare_streaming
from {{cookiecutter.package_name}}.training.fit import quiet_lightning

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
GOAL = 0.9


def tiled_digits(scale: int = 100) -> dict:
    """The bundled digits, `scale` times, each copy with noise (std 0.01): distinct examples."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.tile(d.images.reshape(-1, 1, 8, 8).astype(np.float32), (scale, 1, 1, 1))
    x += np.random.default_rng(0).normal(0, 0.01, x.shape).astype(np.float32)
    return {"x": x, "y": np.tile(d.target, scale), "class_names": [str(c) for c in range(10)]}


def config(*overrides: str, out: str = "/nonexistent"):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.output_dir={out}",
                "logger=none",
                "trainer.enable_progress_bar=false",
                "checks.before_train=false",
                "analysis.error_analysis=false",
                *overrides,
            ],
        )


def memory_overrides(scale: int) -> list[str]:
    return ["data.source._target_=bench_streaming.tiled_digits", f"+data.source.scale={scale}"]


def epoch(loader) -> tuple[float, int]:
    start, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch[1] if isinstance(batch, (tuple, list)) else batch["y"])
    return time.perf_counter() - start, n


def plain_loader(folder: Path, batch_size: int, workers: int, defaults: bool):
    from litdata import StreamingDataLoader, StreamingDataset

    settings = {} if defaults else {"batch_decode": "all", "item_shuffle_window": "full"}
    data = StreamingDataset(str(folder / "train"), shuffle=True, seed=0, **settings)
    return StreamingDataLoader(data, batch_size=batch_size, num_workers=workers)


def fit_epoch(cfg) -> float:
    with tempfile.TemporaryDirectory() as out:
        L.seed_everything(0, verbose=False)
        cfg.paths.output_dir = out
        datamodule, model, trainer = build(cfg)  # the data is read before the clock starts
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule)
        return time.perf_counter() - start


def median_ratio(times: dict, a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100, help="copies of the 1,797 digits")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="loader worker processes (all ways alike)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fit-rounds", type=int, default=3, help="rounds of one training epoch each way (0: skip)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "litdata"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # tiled_digits, for Hydra's _target_
    data = [*memory_overrides(args.scale), f"data.batch_size={args.batch_size}", f"++data.num_workers={args.workers}"]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "prepared"
        start = time.perf_counter()
        prepare_streaming(config(*memory_overrides(args.scale)), str(folder))
        prepared_s = time.perf_counter() - start
        memory = build_datamodule(config(*data))
        stream = [
            "data=streaming",
            f"data.dir={folder}",
            f"data.batch_size={args.batch_size}",
            f"data.num_workers={args.workers}",
        ]
        streamed = build_datamodule(config(*stream))
        n_train = streamed.size("train")
        ways = {
            "memory": memory.train_dataloader,
            "streamed": streamed.train_dataloader,
            "plain": lambda: plain_loader(folder, args.batch_size, args.workers, defaults=False),
            "litdata": lambda: plain_loader(folder, args.batch_size, args.workers, defaults=True),
        }
        loaders = {way: make() for way, make in ways.items()}
        for loader in loaders.values():
            epoch(loader)  # warm-up: page cache, worker start
        times = {way: [] for way in ways}
        for i in range(args.rounds):
            order = list(ways)[i % len(ways) :] + list(ways)[: i % len(ways)]
            for way in order:
                gc.collect()
                seconds, n = epoch(loaders[way])
                assert n >= n_train - args.batch_size, (way, n)
                times[way].append(seconds)

        print(
            f"torch {torch.__version__}, litdata {__import__('litdata').__version__}, {torch.get_num_threads()} threads, "
            f"{args.workers} loader workers, batch {args.batch_size}, {args.rounds} rounds"
        )
        print(
            f"{sum(streamed.size(s) for s in ('train', 'train_dev', 'dev', 'test'))} examples ({args.scale} x digits), "
            f"{n_train} in train; prepare_data: {prepared_s:.1f} s"
        )
        print("\none epoch of train batches (median over rounds)")
        for way, values in times.items():
            med = statistics.median(values)
            print(f"  {way:<9} {med:7.3f} s   {n_train / med:10,.0f} examples/s")
        print(f"  streamed / plain    throughput = {median_ratio(times, 'plain', 'streamed'):.3f}   (goal >= {GOAL})")
        print(
            f"  streamed / litdata  throughput = {median_ratio(times, 'litdata', 'streamed'):.3f}   (LitData's default settings)"
        )
        print(f"  streamed / memory   throughput = {median_ratio(times, 'memory', 'streamed'):.3f}")

        if args.fit_rounds:
            runs = {
                "memory": config(*data, "trainer.max_epochs=1"),
                "streamed": config(*stream, "trainer.max_epochs=1"),
            }
            fits = {way: [] for way in runs}
            for i in range(args.fit_rounds):
                for way in list(runs) if i % 2 == 0 else list(runs)[::-1]:
                    gc.collect()
                    fits[way].append(fit_epoch(runs[way]))
            print(
                f"\none training epoch, the project's path (train + train_dev + dev; median over {args.fit_rounds} rounds)"
            )
            for way, values in fits.items():
                med = statistics.median(values)
                print(f"  {way:<9} {med:7.3f} s   {n_train / med:10,.0f} train examples/s")
            print(f"  streamed / memory   throughput = {median_ratio(fits, 'memory', 'streamed'):.3f}")


if __name__ == "__main__":
    main()
