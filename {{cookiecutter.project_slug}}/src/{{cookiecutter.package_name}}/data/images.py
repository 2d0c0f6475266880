"""Your own images as a Source: a folder with one subfolder per class.

    root/
      cat/001.png  cat/002.jpg  ...
      dog/a.png    dog/b.jpeg   ...

The class of an image is the name of its folder. Every image is decoded with Pillow (any mode
it opens: 1-bit, L, P with transparency, RGBA, CMYK, 16-bit...), turned upright by its EXIF
orientation, converted to `channels` (auto: 3 when any image has colour, 1 when all are gray),
resized to `image_size` and served as float32 in [0, 1]; the data module standardizes it
afterwards with statistics of the train split.

As torchvision's ImageFolder does, what is not an image is passed over: an OS's leftovers
(.DS_Store, ._x.jpg, Thumbs.db, desktop.ini, __MACOSX/), hidden files and folders, files
without an image extension. They are counted in one line. A file WITH an image extension that
does not decode (empty, cut short) is a mistake to see: it stops the run, named (or is
skipped and counted with skip_bad=true).

load() opens every file once, fully: a broken file then fails here, in one line that names it,
and not in a DataLoader worker in the middle of epoch 7.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps

from ..common import ConfigError
from .interface import Examples, Source

# torchvision's list (plus .gif); compared lower-case, so IMG_01.JPG counts
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
MODES = {1: "L", 3: "RGB"}
SKIP_HINT = "remove it, or set data.skip_bad=true to skip and count such files"
# What operating systems, NAS boxes and zip tools leave among photos (lower-case names)
LEFTOVER_FILES = {"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"}
LEFTOVER_DIRS = {"__macosx", "@eadir", "$recycle.bin", "system volume information"}
# An RGB pixel is coloured when its channels differ by more than this (of 255): a gray
# picture saved as an RGB JPEG comes back with differences of 1-3 from rounding.
COLOUR_SPREAD = 16
COLOUR_SHARE = 0.01  # ... and an image has colour when more than 1% of its pixels are
TINY = 4  # an image side under 1/4 of data.image_size's is upscaled from almost nothing


class Inspected(NamedTuple):
    """What load() learns from decoding a file once."""

    fingerprint: bytes  # blake2b of the bytes; b"" when the file does not decode
    error: str | None
    size: tuple[int, int] = (0, 0)  # (width, height) as stored
    colour: bool = False


class ImageFolderSource(Source):
    """root/<class name>/<image files>: class = subfolder name (sorted), files sorted by path.

    Holds only paths and settings (no open files), so DataLoader workers can pickle it.
    """

    in_memory = False
    kind = "image_folder"

    def __init__(self, root, channels="auto", image_size=(32, 32), skip_bad: bool = False, extensions=IMAGE_EXTENSIONS):
        # Nothing touches the disk here: predict.py builds a fresh source and restores its
        # state without the training folder being there.
        self.root = None if root is None else Path(root)
        self.skip_bad = bool(skip_bad)
        self._asked = str(channels)  # auto, or 1 / 3
        self._configure(channels, image_size, extensions)
        self.paths: list[str] = []  # file paths, example order
        self.names: list[str] = []  # the same, relative to root (what reports show)
        self.skipped: list[str] = []  # files skipped by skip_bad, relative to root
        self._fingerprints: list[bytes] = []

    def _configure(self, channels, image_size, extensions) -> None:
        if str(channels) != "auto":  # auto: decided by load(), from what the folder holds
            if str(channels) not in ("1", "3"):
                raise ConfigError(f"data.channels={channels}: use auto (from the images), 1 (grayscale) or 3 (RGB)")
            channels = int(channels)
        size = (
            (int(image_size),) * 2 if isinstance(image_size, (int, float, str)) else tuple(int(v) for v in image_size)
        )
        if len(size) != 2 or min(size) < 1:
            raise ConfigError(f"data.image_size={list(size)}: use [height, width] in pixels, e.g. [32, 32], or one int")
        self.channels, self.image_size = channels, size
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.input_shape = None if channels == "auto" else (channels, *size)

    # ---- the Source interface -------------------------------------------------------------

    def load(self) -> Examples:
        root = self.root
        if root is None or not root.is_dir():
            raise ConfigError(f"data.path={root}: no such folder; point it at DIR with DIR/<class name>/<image files>")
        passed: list[tuple[str, str]] = []  # (relative name, why) of what is not an image
        class_dirs = []
        for entry in sorted(root.iterdir()):
            why = _leftover(entry.name)
            if entry.is_dir() and not why:
                class_dirs.append(entry)
            else:  # a leftover, a hidden folder (.ipynb_checkpoints), a file beside the class folders
                passed.append((entry.name + ("/" if entry.is_dir() else ""), why or "beside the class folders"))
        if not class_dirs:
            raise ConfigError(f"data.path={root} has no class subfolders; expected {root}/<class name>/<image files>")

        candidates = []  # (path, class name) of files with an image extension
        for class_dir in class_dirs:
            files, others = self._walk(class_dir, root)
            candidates += [(path, class_dir.name) for path in files]
            passed += others
        say_passed_over(passed, root)
        # A full decode of every file (~0.03 ms a small PNG, ~0.3 ms a 256x256 JPEG): Pillow's
        # verify() is 10x cheaper but passes truncated JPEGs, which would then crash an epoch.
        # Threads, because Pillow releases the GIL while decoding.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            checked = list(pool.map(lambda c: _inspect(c[0]), candidates))
        bad, kept = [], []
        for (path, class_name), seen in zip(candidates, checked):
            if seen.error:
                bad.append((path.relative_to(root).as_posix(), seen.error))
            else:
                kept.append((path, class_name, seen))
        self.skipped = self._refuse_or_skip(bad, where=root)
        targets = [class_name for _, class_name, _ in kept]
        self._check_classes(class_dirs, targets, root, passed + bad)

        self.paths = [str(path) for path, _, _ in kept]
        self.names = [path.relative_to(root).as_posix() for path, _, _ in kept]
        self._fingerprints = [seen.fingerprint for _, _, seen in kept]
        self._decide_channels([seen.colour for _, _, seen in kept])
        warn_tiny(self.names, [seen.size for _, _, seen in kept], self.image_size)
        warn_few(targets)
        return Examples(targets=np.array(targets), names=list(self.names), domain=None, class_names=None)

    def _check_classes(self, class_dirs, targets, root, not_read) -> None:
        present = set(targets)
        empty = [d.name for d in class_dirs if d.name not in present]
        if empty:
            inside = [name for name, _ in not_read if name.startswith(f"{empty[0]}/")]
            held = f" (only {len(inside)} file(s) that are not images: {_some(inside)})" if inside else ""
            raise ConfigError(
                f"data.path: class folder {root / empty[0]} has no images{held}; add some or remove the folder"
            )
        if len(present) < 2:
            raise ConfigError(f"data.path={root} has one class folder ({targets[0]}); a classifier needs at least two")

    def _decide_channels(self, colour: list[bool]) -> None:
        """data.channels=auto: 3 when any image has colour, 1 when all are gray; said in one line."""
        if self._asked != "auto":
            return
        coloured = sum(colour)
        self.channels = 3 if coloured else 1
        self.input_shape = (self.channels, *self.image_size)
        if coloured:
            first = self.names[colour.index(True)]
            print(
                f"data.channels=auto: 3 (RGB), as {coloured} of {len(colour)} images have colour (e.g. {first}); "
                "data.channels=1 reads them as grayscale"
            )
        else:
            print(f"data.channels=auto: 1 (grayscale), as all {len(colour)} images are gray")

    def fit(self, train_index: np.ndarray) -> None:
        """Nothing to fit: the data module standardizes per channel by streaming over train."""

    def read(self, i: int) -> torch.Tensor:
        return self._decode(self.paths[i])

    def fingerprint(self, i: int) -> bytes:
        """blake2b of the file's bytes (computed while load() checked the file)."""
        return self._fingerprints[i]

    def describe(self, i: int) -> dict:
        return {"file": self.names[i]}

    def read_new(self, path) -> tuple[torch.Tensor, list[str]]:
        """An image file, or a folder of them (recursively, sorted): ([M, C, H, W], names)."""
        path = Path(path)
        if path.is_file():
            files, names = [path], [path.name]
        elif path.is_dir():
            files, passed = self._walk(path, path)
            say_passed_over(passed, path)
            if not files:
                raise ConfigError(f"{path} holds no image files ({', '.join(self.extensions)})")
            names = [p.relative_to(path).as_posix() for p in files]
        else:
            raise ConfigError(f"{path}: no such file or folder")
        images = []
        for p in files:
            try:
                images.append(self._decode(p))
            except Exception as error:  # noqa: BLE001 - Pillow raises many types for a broken file
                why = "empty (0 bytes)" if p.stat().st_size == 0 else _one_line(error)
                raise ConfigError(f"{p} is not a readable image ({why}); remove it or pass another file") from None
        return torch.stack(images), names

    def state_dict(self) -> dict:
        return {"channels": self.channels, "image_size": list(self.image_size), "extensions": list(self.extensions)}

    def load_state_dict(self, state: dict) -> None:
        self._configure(state["channels"], state["image_size"], state["extensions"])

    # ---- helpers --------------------------------------------------------------------------

    def _walk(self, folder: Path, root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
        """The image files under folder (sorted by path), and (name, why) of what is passed over.
        Hidden and leftover folders are not entered: .git or __MACOSX may hold thousands."""
        files, passed = [], []
        for here, dirs, names in os.walk(folder, followlinks=True):  # as ImageFolder: photo libraries link folders
            here = Path(here)
            for name in sorted(dirs):
                if why := _leftover(name):
                    passed.append(((here / name).relative_to(root).as_posix() + "/", why))
                    dirs.remove(name)
            dirs.sort()
            for name in sorted(names):
                why = _leftover(name)
                if not why and Path(name).suffix.lower() not in self.extensions:
                    why = "no image extension"
                if why:
                    passed.append(((here / name).relative_to(root).as_posix(), why))
                else:
                    files.append(here / name)
        return sorted(files), passed

    def _refuse_or_skip(self, bad: list[tuple[str, str]], where: Path) -> list[str]:
        """The first bad file as a ConfigError, or (skip_bad) all of their names, with a note."""
        if bad and not self.skip_bad:
            name, why = bad[0]
            more = f" ({len(bad) - 1} more like it)" if len(bad) > 1 else ""
            raise ConfigError(f"{where / name} is {why}{more}; {SKIP_HINT}")
        skipped = [name for name, _ in bad]
        if skipped:
            print(f"data.skip_bad: skipped {len(skipped)} file(s) under {where} that do not decode: {_some(skipped)}")
        return skipped

    def _decode(self, path) -> torch.Tensor:
        mode = MODES[self.channels]
        with Image.open(path) as image:
            # JPEG: let the decoder shrink by up to 8x (>= the target size): ~5x faster on
            # photos; max() so that a 90-degree EXIF rotation still leaves enough pixels
            image.draft(mode, (max(self.image_size),) * 2)
            # Phones store portrait photos sideways plus an orientation tag: apply it, so the
            # net sees what a person sees (the check skips ~5 us a file that has no EXIF;
            # a TIFF keeps its orientation among its own tags)
            if "exif" in image.info or image.format == "TIFF":
                ImageOps.exif_transpose(image, in_place=True)
            return _to_tensor(image, mode, self.image_size)


def _leftover(name: str) -> str | None:
    """Why a file or folder name is not a photo of the set, whatever its extension; None: it may be one."""
    if name.startswith("._"):
        return "macOS resource fork"  # ._IMG_1.jpg: Finder's shadow of IMG_1.jpg on a non-Mac disk
    if name.startswith("."):
        return "hidden"
    if name.lower() in LEFTOVER_FILES or name.lower() in LEFTOVER_DIRS:
        return "OS leftover"
    return None


def _some(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def say_passed_over(passed: list[tuple[str, str]], where: Path) -> None:
    """One line: how many files were passed over as not images, by why, with a few names."""
    if not passed:
        return
    by_why: dict[str, list[str]] = {}
    for name, why in passed:
        by_why.setdefault(why, []).append(name)
    parts = [f"{why}: {len(names)} ({_some(names)})" for why, names in by_why.items()]
    print(f"data: passed over {len(passed)} non-image file(s) under {where}: {'; '.join(parts)}")


def warn_tiny(names: list[str], sizes: list[tuple[int, int]], image_size: tuple[int, int]) -> None:
    """One line about images with a side far under image_size's (a 1x1 pixel, an icon among photos)."""
    # shortest sides compared: an EXIF rotation may swap width and height
    tiny = [(n, s) for n, s in zip(names, sizes) if min(s) <= 1 or min(s) * TINY < min(image_size)]
    if tiny:
        shown = ", ".join(f"{n} {w}x{h}" for n, (w, h) in tiny[:3]) + (", ..." if len(tiny) > 3 else "")
        print(
            f"warning: {len(tiny)} image(s) far smaller than data.image_size={list(image_size)} ({shown}): "
            "upscaled, they hold next to nothing; check they belong, or lower data.image_size"
        )


def held_out_share(n: int) -> float:
    """What data.splits=auto gives each of train_dev, dev and test (data.resolve_fractions;
    repeated here so that reading a folder does not import lightning; a test keeps them equal)."""
    return 0.1 if n < 100_000 else 0.01


def warn_few(targets: list[str]) -> None:
    """One line about classes too small for the four splits: a class with 1 image is learned or
    measured, never both, and a dev set that lacks it says nothing about it."""
    share = held_out_share(len(targets))
    needed = round(1 / share)
    counts = dict(zip(*np.unique(np.asarray(targets), return_counts=True)))
    few = sorted((int(n), str(c)) for c, n in counts.items() if n < needed)
    if few:
        shown = ", ".join(f"{c} {n}" for n, c in few[:3]) + (", ..." if len(few) > 3 else "")
        print(
            f"warning: {len(few)} class(es) with few images ({shown}): at the default splits ({share:.0%} each for "
            f"train_dev, dev and test) a class needs {needed} or more for each split to hold one, 4 at the very least "
            "(one a split); add images of it, or merge or remove the class"
        )


def _inspect(path: Path) -> Inspected:
    """Decode a file fully, once: its fingerprint, size and whether it has colour, or why not."""
    try:
        data = path.read_bytes()
        if not data:
            return Inspected(b"", "not a readable image (empty: 0 bytes)")
        with Image.open(BytesIO(data)) as image:
            size = image.size
            image.draft(image.mode, (1, 1))  # JPEG: decode at 1/8 scale; still reads every byte
            image.load()
            colour = _has_colour(image)
        return Inspected(hashlib.blake2b(data, digest_size=16).digest(), None, size, colour)
    except Exception as error:  # noqa: BLE001 - Pillow raises many types for a broken file
        return Inspected(b"", f"not a readable image ({_one_line(error)})")


def _has_colour(image: Image.Image) -> bool:
    """More than COLOUR_SHARE of the pixels have channels apart (a gray scan saved as RGB has not)."""
    flat = _flatten(image)
    if flat.mode == "L":
        return False
    if max(flat.size) > 256:  # a share of pixels: a 1/k-size copy tells it as well, faster
        flat = flat.reduce(max(flat.size) // 256)
    pixels = np.asarray(flat, dtype=np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    return bool((spread > COLOUR_SPREAD).mean() > COLOUR_SHARE)


def _flatten(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> "L" (gray modes) or "RGB" (the rest), values as a person sees them."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return _scale_to_8_bit(image)
    if mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info:
        # Transparent pixels become black, whatever colour the file stores beneath them
        rgba = image.convert("RGBA")
        black = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
        return black.convert("L" if mode in ("L", "LA", "1") else "RGB")
    if mode in ("L", "RGB"):
        return image
    return image.convert("L" if mode == "1" else "RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX


def _scale_to_8_bit(image: Image.Image) -> Image.Image:
    """16-bit (I;16, I) and float (F) gray: Pillow's convert("L") would clip them to white.
    Integers are taken as 16-bit (0..65535); floats as 0..1 when none exceeds 1, else 0..255."""
    pixels = np.asarray(image, dtype=np.float32)
    if image.mode == "F":
        pixels = pixels * 255 if pixels.size and np.nanmax(pixels) <= 1 else pixels
    else:
        pixels = pixels / 257
    return Image.fromarray(np.nan_to_num(pixels).round().clip(0, 255).astype(np.uint8))


def _to_tensor(image: Image.Image, mode: str, size: tuple[int, int]) -> torch.Tensor:
    """Any Pillow image -> float32 [C, H, W] in [0, 1]: `mode` channels, `size` = (H, W)."""
    image = _flatten(image).convert(mode)
    if image.size != (size[1], size[0]):  # Pillow sizes are (width, height)
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / 255  # numpy: ~3 us a small image faster than torch here
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(pixels))


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
