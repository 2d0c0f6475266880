"""How long the data-quality reports take (evaluation/quality.py): near-duplicates across splits, label
issues (cleanlab), the train-vs-dev classifier, and near-duplicates in a net's penultimate layer.

    python benchmarks/bench_quality.py [--runs 3] [--examples 100000]

On the bundled digits (1797 examples), and on 100,000 synthetic examples (64 features, 10
classes), where each step is timed twice side by side in this process: bounded, as the recipe
runs it (its default samples: checks.near_duplicates.max_train, checks.max_examples,
analysis.quality_examples), and unbounded (every example), with the ratio of the two: what
the sampling saves. For scale, one eval pass of the default MLP over the same train split.
Figures only; nothing is asserted. Medians of `runs` runs (default 3); on 100k, `runs`
paired rounds that time both versions, taking turns at going first, and the median ratio.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
N_LARGE, FEATURES, CLASSES = 100_000, 64, 10
MAX_TRAIN, MAX_EXAMPLES, QUALITY_EXAMPLES = 20_000, 4096, 10_000  # the shipped defaults


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        return hydra_compose("train", overrides=["logger=none", "paths.output_dir=/tmp/bench_quality", *overrides])


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def synthetic() -> dict:
    """10 Gaussian clusters in 64 dimensions, overlapping enough that a linear model errs."""
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, CLASSES, N_LARGE)
    centres = rng.normal(0, 1.0, (CLASSES, FEATURES))
    return {"x": (centres[y] + rng.normal(0, 1.5, (N_LARGE, FEATURES))).astype(np.float32), "y": y}


def steps(dm, model, bounded: bool) -> dict:
    """name -> a function running that step on `dm` the way the recipe does (bounded) or on everything."""
    import torch

    from {{cookiecutter.package_name}}.evaluation import quality
    from {{cookiecutter.package_name}}.evaluation.inference import Predictions

    everything = 10**9
    train_n = MAX_TRAIN if bounded else everything
    query_n = MAX_EXAMPLES if bounded else everything
    quality_n = QUALITY_EXAMPLES if bounded else everything
    width = dm.spec.num_outputs
    predictions = {
        s: Predictions(torch.randn(dm.size(s), width), dm.targets(s), dm.sample(s, everything)[2])
        for s in quality.QUERY_SPLITS
    }

    def near_duplicates():
        reference = dm.sample("train", train_n)[0]
        quality.near_duplicates(reference, {s: dm.sample(s, query_n)[0] for s in quality.QUERY_SPLITS})

    def embedding_duplicates():
        reference = quality.embedded_sample(model, dm, "train", quality_n)
        quality.near_duplicates(
            reference[0], {s: quality.embedded_sample(model, dm, s, quality_n)[0] for s in quality.QUERY_SPLITS}
        )

    return {
        "near-duplicates (inputs)": near_duplicates,
        "label issues (train CV + dev)": lambda: quality.find_label_issues(
            dm, predictions, model.task, max_train=quality_n
        ),
        "train-vs-dev classifier": lambda: quality.mismatch_evidence(dm, max_examples=quality_n),
        "near-duplicates (embedding)": embedding_duplicates,
    }


def main(runs: int) -> None:
    start = time.perf_counter()
    import torch

    from {{cookiecutter.package_name}}.build import build_datamodule, build_model
    from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule
    from {{cookiecutter.package_name}}.evaluation.inference import predict

    print(
        f"imports: {time.perf_counter() - start:.1f} s, not counted below; torch threads: {torch.get_num_threads()}\n"
    )
    cfg = compose()
    digits = build_datamodule(cfg)
    digits.setup("fit")
    model = build_model(cfg, digits.spec, scheduler=False)
    for fn in steps(digits, model, True).values():
        fn()  # warm-up: the first sklearn / cleanlab imports
    print(
        f"bundled digits ({sum(digits.size(s) for s in ('train', 'train_dev', 'dev'))} examples in train/train_dev/dev), "
        f"median of {runs}:"
    )
    for name, fn in steps(digits, model, True).items():
        print(f"  {name:<32} {timed(fn, runs):6.2f} s")

    large = FourSplitDataModule(synthetic, standardize="per_feature")
    large.setup("fit")
    big_model = build_model(cfg, large.spec, scheduler=False)
    sizes = ", ".join(f"{s} {large.size(s)}" for s in ("train", "train_dev", "dev"))
    eval_pass = timed(lambda: predict(big_model, large.loader("train")), runs)
    print(
        f"\n{N_LARGE} synthetic examples ({FEATURES} features, {CLASSES} classes; {sizes}); "
        f"for scale, one eval pass of the MLP over train: {eval_pass:.2f} s"
    )
    print(f"  {'step':<32} {'bounded':>9} {'unbounded':>10} {'ratio':>7}   (medians of {runs} paired rounds)")
    bounded, unbounded = steps(large, big_model, True), steps(large, big_model, False)
    for name in bounded:
        pairs = []
        for r in range(runs):  # each round times both, in turn first: a busy machine slows both alike
            first, second = (bounded[name], unbounded[name]) if r % 2 == 0 else (unbounded[name], bounded[name])
            a, b = timed(first, 1), timed(second, 1)
            pairs.append((a, b) if r % 2 == 0 else (b, a))
        b, u = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        print(f"  {name:<32} {b:8.2f}s {u:9.2f}s {ratio:6.2f}x")
    print(
        f"\nbounded = train sample {MAX_TRAIN} for input near-duplicates, {MAX_EXAMPLES} per query split; "
        f"{QUALITY_EXAMPLES} per split for the rest"
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=3, help="medians of this many runs (paired rounds on the large set)"
    )
    parser.add_argument("--examples", type=int, default=N_LARGE, help="size of the synthetic set")
    args = parser.parse_args()
    N_LARGE = args.examples  # read by synthetic() and the report
    main(args.runs)
