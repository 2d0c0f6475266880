"""A photo folder as people have them, from real images that ship with scikit-image and
scikit-learn (no download): faces vs other scenes, in every mode and format a folder of one's
own mixes, with an OS's leftovers beside them. Importable without the suite (no conftest), so
a run from the command line can use it too:

    python -c "import sys; sys.path.insert(0, 'tests'); import photo_folder; photo_folder.write('/tmp/photos')"

    faces/              100 of skimage's lfw_subset faces (25x25 gray) + the astronaut portrait
    autres scènes/      its 100 non-faces + 13 real photos (china, flower, coffee, chelsea, rocket, ...)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

FACES, OTHERS = "faces", "autres scènes"  # a space and an accent in a class name


def _rotated_with_exif(image: Image.Image) -> tuple[Image.Image, bytes]:
    """What a phone stores: the picture turned sideways, and a tag saying how to turn it back."""
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    return image.transpose(Image.Transpose.ROTATE_90), exif.tobytes()


def _palette_with_transparency(image: Image.Image) -> Image.Image:
    """P mode with a tRNS chunk, as GIF-era tools write it: entry 255 is transparent, and no
    pixel uses it (64 colours are 0..63), so the picture is unchanged."""
    p = image.convert("RGB").quantize(64)
    p.info["transparency"] = 255
    return p


def save_in_style(image: Image.Image, folder: Path, stem: str, style: int) -> Path:
    """One of ten ways a file of one's own is stored (style % 10)."""
    gray = image.convert("L")
    style %= 10
    if style == 0:
        path = folder / f"{stem}.png"
        gray.save(path)
    elif style == 1:
        path = folder / f"{stem}.jpg"
        gray.save(path, quality=95)
    elif style == 2:
        path = folder / f"{stem}.PNG"  # upper-case extension; RGBA, fully opaque
        gray.convert("RGBA").save(path)
    elif style == 3:
        path = folder / f"{stem} é.png"  # accent in the file name
        _palette_with_transparency(gray).save(path)
    elif style == 4:
        path = folder / f"{stem}.JPG"
        gray.convert("CMYK").save(path, quality=95)
    elif style == 5:
        path = folder / f"{stem} 16bit.png"
        Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257).save(path)  # I;16
    elif style == 6:
        path = folder / f"IMG_{stem}.JPEG"
        turned, exif = _rotated_with_exif(gray.convert("RGB"))
        turned.save(path, quality=95, exif=exif)
    elif style == 7:
        path = folder / f"{stem}.tif"
        gray.save(path)
    elif style == 8:
        path = folder / f"{stem}.webp"
        gray.convert("RGB").save(path, lossless=True)
    else:
        path = folder / f"{stem}.gif"
        gray.save(path)
    return path


def _bundled(name: str) -> Path:
    import skimage.data
    from sklearn.datasets import load_sample_images

    shipped = {Path(f).name: Path(f) for f in load_sample_images().filenames}  # china.jpg, flower.jpg
    return shipped.get(name, Path(skimage.data.__file__).parent / name)


def write_photos(folder: Path) -> None:
    """Real photos, each once (a second copy would be a true duplicate for the checks to
    flag), each stored in a way phones, scanners and print shops store them."""
    for name in ("china.jpg", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "logo.png", "moon.png", "page.png"):
        shutil.copy(_bundled(name), folder / name)  # as they ship: RGB JPEG, RGBA PNG, gray PNG
    Image.open(_bundled("rocket.jpg")).convert("CMYK").save(folder / "rocket cmyk.JPG", quality=90)
    turned, exif = _rotated_with_exif(Image.open(_bundled("coffee.png")).convert("RGB"))
    turned.save(folder / "IMG_0042 coffee.jpeg", quality=90, exif=exif)
    _palette_with_transparency(Image.open(_bundled("chelsea.png"))).save(folder / "chelsea palette.png")
    camera = np.asarray(Image.open(_bundled("camera.png")), dtype=np.uint16)
    Image.fromarray(camera * 257).save(folder / "camera 16bit.png")
    Image.open(_bundled("flower.jpg")).convert("RGBA").save(folder / "flower rgba.png")
    Image.open(_bundled("coins.png")).convert("1").save(folder / "coins 1bit.png")


def write(root, leftovers: bool = True) -> Path:
    """The folder; ~1 s. leftovers=False leaves out the OS's files."""
    from skimage.data import lfw_subset

    root = Path(root)
    faces, others = root / FACES, root / OTHERS
    faces.mkdir(parents=True, exist_ok=True)
    others.mkdir(parents=True, exist_ok=True)
    lfw = np.round(lfw_subset() * 255).astype(np.uint8)  # 200 x 25 x 25: 100 faces, then 100 not
    for i, pixels in enumerate(lfw):
        folder, n = (faces, i) if i < 100 else (others, i - 100)
        save_in_style(Image.fromarray(pixels), folder, f"lfw {n:03d}", n)  # a space in each name
    shutil.copy(_bundled("astronaut.png"), faces / "astronaut.png")
    write_photos(others)
    if leftovers:
        write_leftovers(root)
    return root


def write_leftovers(root: Path) -> list[str]:
    """What macOS, Windows, zip tools and notebooks leave beside photos: all to be passed over."""
    written = {
        ".DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(100),
        f"{FACES}/.DS_Store": b"\x00\x00\x00\x01Bud1" + bytes(100),
        f"{FACES}/._lfw 000.png": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ",  # AppleDouble
        f"{FACES}/Thumbs.db": bytes(512),
        f"{OTHERS}/desktop.ini": b"[.ShellClassInfo]\r\n",
        f"{OTHERS}/notes.txt": b"from the trip\n",
        "__MACOSX/faces/._lfw 001.png": b"\x00\x05\x16\x07",
        f"{FACES}/.ipynb_checkpoints/lfw 002-checkpoint.png": b"not looked at",
    }
    for name, data in written.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return sorted(written)
