"""The shipped examples, written on your machine: no download, and the same files on every
machine because every random draw is seeded.

    write_example_table("examples/animals.csv")   # for: python train.py +experiment=table_example

`python make_examples.py` writes both; `+experiment=table_example` / `image_folder_example`
write theirs themselves when it is missing (their `example:` key; ensure_example below).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

ANIMALS = ("cat", "dog", "bird")


def write_example_table(path="examples/animals.csv", rows: int = 800, seed: int = 0) -> Path:
    """A synthetic animals table, as CSV: predict `animal` (cat / dog / bird) from body
    measurements and coat colour. The classes overlap (small dogs weigh what cats weigh,
    big birds what small cats do), so a small MLP scores well above chance, not 100%.
    About 5% of weight_kg, height_cm and color are empty, to exercise the imputation."""
    rng = np.random.default_rng(seed)
    animal = rng.choice(ANIMALS, size=rows, p=[0.4, 0.4, 0.2])
    is_cat, is_dog, is_bird = (animal == a for a in ANIMALS)

    def by_animal(cat, dog, bird):
        return np.select([is_cat, is_dog, is_bird], [cat, dog, bird])

    # Log-normal weights: dogs range from chihuahuas to mastiffs, so their tail meets the cats'.
    weight = np.exp(
        by_animal(np.log(4.5), np.log(14.0), np.log(1.0)) + by_animal(0.35, 0.75, 0.9) * rng.standard_normal(rows)
    )
    height = by_animal(24.0, 45.0, 22.0) * np.exp(by_animal(0.18, 0.35, 0.45) * rng.standard_normal(rows))
    age = rng.gamma(by_animal(3.0, 3.0, 2.0), by_animal(2.5, 2.2, 3.0))
    sleep = by_animal(14.0, 12.0, 11.0) + 2.0 * rng.standard_normal(rows)
    food = 30.0 * weight**0.75 * np.exp(0.3 * rng.standard_normal(rows))  # grams a day, ~ metabolic weight

    colors = ["black", "white", "brown", "grey", "orange"]
    color_odds = {
        "cat": [0.25, 0.2, 0.1, 0.25, 0.2],
        "dog": [0.25, 0.2, 0.35, 0.1, 0.1],
        "bird": [0.2, 0.2, 0.25, 0.25, 0.1],
    }
    color = np.empty(rows, dtype=object)
    for name, odds in color_odds.items():
        chosen = animal == name
        color[chosen] = rng.choice(colors, size=int(chosen.sum()), p=odds)

    table = pd.DataFrame(
        {
            "weight_kg": weight.round(2),
            "height_cm": height.round(1),
            "age_years": age.round(1),
            "sleep_hours": sleep.clip(4, 20).round(1),
            "daily_food_g": food.round(0),
            "color": color,
            "animal": animal,
        }
    )
    for column in ("weight_kg", "height_cm", "color"):
        table.loc[rng.random(rows) < 0.05, column] = np.nan  # gaps at random, ~5% of each
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def write_example_images(root="examples/digit_images", every_rgb: int = 25) -> Path:
    """scikit-learn's bundled handwritten digits (1797 real 8x8 scans) as an image folder,
    root/<zero..nine>/<nnnn>.png, upscaled to 16x16 grayscale: for
    python train.py +experiment=image_folder_example. Every `every_rgb`-th image is saved as
    RGB, as folders of your own often mix modes; the source converts them all. ~0.3 s."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = Path(root)
    for name in DIGIT_NAMES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for n, (pixels, digit) in enumerate(zip(digits.images, digits.target)):
        image = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8))  # 0..16 ink -> 0..255
        image = image.resize((16, 16), Image.Resampling.BILINEAR)
        if n % every_rgb == 0:
            image = image.convert("RGB")
        image.save(root / DIGIT_NAMES[digit] / f"{n:04d}.png")
    return root


def write_examples(out="examples", overwrite: bool = False) -> tuple[Path, Path]:
    """make_examples.py: out/animals.csv and out/digit_images/. Files there already are a
    ConfigError (nothing written) unless `overwrite`, which replaces them."""
    from ..common import ConfigError

    out = Path(out)
    table, images = out / "animals.csv", out / "digit_images"
    existing = [p for p in (table, images) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{', '.join(map(str, existing))} exist(s) already; pass overwrite=true to write them anew")
    if images.exists():
        shutil.rmtree(images)
    print(f"table  {write_example_table(table)}")
    print(f"images {write_example_images(images)}")
    return table, images


# example: <kind> in an experiment config -> (the data.path the experiment ships, its writer)
SHIPPED = {
    "table": ("examples/animals.csv", write_example_table),
    "images": ("examples/digit_images", write_example_images),
}


def ensure_example(kind: str | None, where: str | None) -> Path | None:
    """A shipped experiment (its config's `example: <kind>`) runs as shipped on a fresh project:
    when its data is missing at the path it ships (data.path, `where`), it is written first, in
    one line. A path of your own that is missing is not filled with example data: it stays the
    data source's error."""
    from ..common import ConfigError

    if not kind:
        return None
    if kind not in SHIPPED:
        raise ConfigError(f"example={kind}: the shipped examples are {', '.join(SHIPPED)}; or leave the key out")
    shipped, write = SHIPPED[kind]
    if where is None or Path(where) != Path(shipped) or Path(where).exists():
        return None
    _write_whole(Path(where), write)
    print(
        f"example: wrote {where}, the {kind} this experiment ships (seeded, no download; make_examples.py writes it too)"
    )
    return Path(where)


def _write_whole(where: Path, write) -> None:
    """Written under a hidden name, then renamed: an interrupted write leaves no half example
    at `where`, and of two runs starting at once (a sweep) the second finds it whole."""
    where.parent.mkdir(parents=True, exist_ok=True)
    scratch = where.parent / f".{where.name}.{os.getpid()}.writing"
    try:
        write(scratch)
        try:
            os.rename(scratch, where)
        except OSError:  # another run renamed its copy first: the same seeded files
            if not where.exists():
                raise
    finally:
        if scratch.is_dir():
            shutil.rmtree(scratch)
        elif scratch.exists():
            scratch.unlink()
