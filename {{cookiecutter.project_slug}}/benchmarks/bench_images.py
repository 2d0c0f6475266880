"""Epoch throughput of an image folder: ImageFolderSource as the data module serves it, against
the plain Pillow Dataset a person would write by hand.

    python benchmarks/bench_images.py                      the example digits (written to a temp dir)
    python benchmarks/bench_images.py --root DIR --image-size 64 --channels 3 --workers 4

  baseline  Dataset.__getitem__: Image.open -> convert -> resize -> tensor / 255
  source    Dataset.__getitem__: (ImageFolderSource.read(index[k]) - mean) / std, target, index
            (read also applies EXIF orientation and lets JPEG decode at reduced scale)

Both go through a DataLoader with the same workers and batch size, one full epoch each (worker
start-up included, as in training), side by side in the same process, the order alternating
between rounds. Prints images/s (median over rounds) and the ratio source / baseline (goal:
>= 0.9x). Figures only; nothing is asserted. Also prints what load() (the one-off scan that
decodes every file once) costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))

from {{cookiecutter.package_name}}.data.examples import write_example_images  # noqa: E402
from {{cookiecutter.package_name}}.data.images import ImageFolderSource  # noqa: E402

GOAL = 0.9


class PillowFolder(torch.utils.data.Dataset):
    """The baseline: decode with Pillow, convert, resize, to a tensor."""

    def __init__(self, paths, targets, mode, size):
        self.paths, self.targets, self.mode, self.size = paths, targets, mode, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, k):
        with Image.open(self.paths[k]) as image:
            image = image.convert(self.mode).resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)
        x = x[None] if x.ndim == 2 else x.permute(2, 0, 1)
        return x, self.targets[k], k


class StandardizedReads(torch.utils.data.Dataset):
    """What the data module serves: (standardized read(index[k]), target, index)."""

    def __init__(self, source, index, targets, mean, std):
        self.source, self.index, self.targets, self.mean, self.std = source, index, targets, mean, std

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        i = int(self.index[k])
        return (self.source.read(i) - self.mean) / self.std, self.targets[i], i


def epoch_rate(dataset, batch_size: int, workers: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    start = time.perf_counter()
    n = sum(len(batch[0]) for batch in loader)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="an image folder, DIR/<class>/<files> (default: the example digits)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else write_example_images(Path(tmp) / "digit_images")
        source = ImageFolderSource(root, channels=args.channels, image_size=args.image_size)
        start = time.perf_counter()
        examples = source.load()
        print(
            f"load(): {time.perf_counter() - start:.2f} s to find, check and hash {len(examples.names)} files under {root}"
        )

        classes = sorted(set(examples.targets))
        targets = torch.tensor([classes.index(t) for t in examples.targets])
        first = torch.stack([source.read(i) for i in range(min(256, len(targets)))])
        mean, std = first.mean(dim=(0, 2, 3))[:, None, None], first.std(dim=(0, 2, 3))[:, None, None]
        size = (args.image_size, args.image_size)
        contenders = {
            "baseline": PillowFolder(source.paths, targets, "L" if args.channels == 1 else "RGB", size),
            "source": StandardizedReads(source, np.arange(len(targets)), targets, mean, std),
        }
        for dataset in contenders.values():  # warm the file cache and the imports, untimed
            epoch_rate(dataset, args.batch_size, args.workers)

        rates = {name: [] for name in contenders}
        for r in range(args.rounds):
            order = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
            for name in order:
                rates[name].append(epoch_rate(contenders[name], args.batch_size, args.workers))
        print(
            f"{len(targets)} images {args.channels}x{args.image_size}x{args.image_size}, batch {args.batch_size}, "
            f"{args.workers} workers, median of {args.rounds} epochs each:"
        )
        for name, values in rates.items():
            print(
                f"  {name:9s} {statistics.median(values):8.0f} images/s   (rounds: {', '.join(f'{v:.0f}' for v in values)})"
            )
        ratio = statistics.median(rates["source"]) / statistics.median(rates["baseline"])
        print(f"  ratio source / baseline: {ratio:.2f}x (goal >= {GOAL}x)")


if __name__ == "__main__":
    main()
