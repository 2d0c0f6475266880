"""Image folders (ImageFolderSource) and training-time augmentation (data/augment.py), on small
folders written here with Pillow, and on a photo folder as people have them, made of real
images that ship with scikit-image and scikit-learn (photo_folder.py). The shipped example
experiments, run as shipped on a fresh project."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import photo_folder
import pytest
import torch
from conftest import PROJECT, compose_train, run_cli
from PIL import Image

from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.augment import Augment, build_augment, mixup
from {{cookiecutter.package_name}}.data.examples import ensure_example
from {{cookiecutter.package_name}}.data.images import ImageFolderSource

rng = np.random.default_rng(0)


def noise_image(mode: str, size: tuple[int, int]) -> Image.Image:
    """A random image of `mode`, size (width, height)."""
    bands = {"L": 1, "RGB": 3, "RGBA": 4, "P": 3}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], bands), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if bands == 1 else pixels)  # mode from the shape
    return image.convert("P") if mode == "P" else image


def jpeg_bytes(size=(24, 24)) -> bytes:
    buffer = io.BytesIO()
    noise_image("RGB", size).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path):
    """root/cat: 3 images, root/dog: 2; mixed modes, sizes and formats."""
    root = tmp_path / "images"
    (root / "cat").mkdir(parents=True)
    (root / "dog" / "more").mkdir(parents=True)
    noise_image("L", (20, 10)).save(root / "cat" / "a.png")
    noise_image("RGBA", (8, 8)).save(root / "cat" / "b.png")
    (root / "cat" / "c.jpg").write_bytes(jpeg_bytes((40, 30)))
    noise_image("P", (16, 16)).save(root / "dog" / "d.gif")
    noise_image("RGB", (33, 17)).save(root / "dog" / "more" / "e.PNG")
    return root


# ---- ImageFolderSource ----------------------------------------------------------------------


def test_classes_names_and_shapes(folder):
    source = ImageFolderSource(folder, channels=1, image_size=(12, 20))
    examples = source.load()
    assert list(examples.targets) == ["cat", "cat", "cat", "dog", "dog"]
    assert examples.names == ["cat/a.png", "cat/b.png", "cat/c.jpg", "dog/d.gif", "dog/more/e.PNG"]
    assert examples.domain is None and examples.class_names is None
    assert source.input_shape == (1, 12, 20) and source.in_memory is False and source.kind == "image_folder"
    for i in range(5):
        x = source.read(i)
        assert x.shape == (1, 12, 20) and x.dtype == torch.float32
        assert 0 <= x.min() and x.max() <= 1
    assert source.describe(4) == {"file": "dog/more/e.PNG"}

    rgb = ImageFolderSource(folder, channels=3, image_size=8)
    rgb.load()
    assert rgb.input_shape == (3, 8, 8) and all(rgb.read(i).shape == (3, 8, 8) for i in range(5))


def test_grayscale_values_survive_and_transparency_becomes_black(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(pixels).save(tmp_path / "a" / "gray.png")
    Image.new("RGBA", (8, 8), (255, 255, 255, 0)).save(tmp_path / "b" / "clear.png")  # white, fully transparent
    source = ImageFolderSource(tmp_path, channels=1, image_size=8)
    source.load()
    assert torch.equal(source.read(0)[0], torch.from_numpy(pixels).float() / 255)
    assert source.read(1).max() == 0


def test_exif_orientation_is_applied(tmp_path):
    """A phone's portrait photo: stored sideways, with a tag saying 'rotate 90 degrees'."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    stored = np.zeros((30, 20), dtype=np.uint8)
    stored[:5] = 255  # a bright band along the stored top
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: shown rotated 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "a" / "sideways.png", exif=exif.tobytes())
    Image.fromarray(stored).save(tmp_path / "b" / "plain.png")
    source = ImageFolderSource(tmp_path, image_size=(20, 30))
    source.load()
    shown, plain = source.read(0)[0], source.read(1)[0]
    assert shown[:, -3:].min() == 1 and shown[:, :10].max() == 0  # the band is now on the right
    assert plain[0].min() == 1  # without the tag: the top row, squeezed but not turned


def test_exact_duplicates_share_a_fingerprint(folder):
    (folder / "dog" / "copy.png").write_bytes((folder / "cat" / "a.png").read_bytes())
    source = ImageFolderSource(folder)
    names = source.load().names
    fingerprints = [source.fingerprint(i) for i in range(len(names))]
    assert fingerprints[names.index("dog/copy.png")] == fingerprints[names.index("cat/a.png")]
    assert len(set(fingerprints)) == len(names) - 1


class Served(torch.utils.data.Dataset):
    """What the data module serves: (read(i), target, i)."""

    def __init__(self, source, n):
        self.source, self.n = source, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.source.read(i), 0, i


def test_picklable_and_read_by_dataloader_workers(folder):
    source = ImageFolderSource(folder, channels=3, image_size=(6, 6))
    source.load()
    copy = pickle.loads(pickle.dumps(source))
    assert torch.equal(copy.read(2), source.read(2))
    loader = torch.utils.data.DataLoader(Served(source, 5), batch_size=2, num_workers=2)
    x = torch.cat([batch[0] for batch in loader])
    assert torch.equal(x, torch.stack([source.read(i) for i in range(5)]))


def broken_files(root):
    """(relative name, writer) of files with an image extension that do not decode."""
    return {
        "cat/empty.jpg": lambda p: p.write_bytes(b""),
        "cat/x.png": lambda p: p.write_text("not an image"),
        "dog/cut.jpg": lambda p: p.write_bytes(jpeg_bytes((64, 64))[:300]),  # truncated
        "dog/cut.png": lambda p: p.write_bytes(png_bytes((64, 64))[:200]),
    }


def png_bytes(size=(24, 24)) -> bytes:
    buffer = io.BytesIO()
    noise_image("RGB", size).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", sorted(broken_files(None)))
def test_an_image_that_does_not_decode_is_named_or_skipped_and_counted(folder, name, capsys):
    broken_files(folder)[name](folder / name)
    with pytest.raises(ConfigError, match="skip_bad=true") as error:
        ImageFolderSource(folder).load()
    assert name in str(error.value) and "\n" not in str(error.value)
    assert ("empty: 0 bytes" in str(error.value)) == name.endswith("empty.jpg")

    source = ImageFolderSource(folder, skip_bad=True)
    assert len(source.load().names) == 5
    assert source.skipped == [name]
    assert "skipped 1 file(s)" in capsys.readouterr().out


def test_skip_bad_counts_them_all(folder, capsys):
    for name, write in broken_files(folder).items():
        write(folder / name)
    source = ImageFolderSource(folder, skip_bad=True)
    assert len(source.load().names) == 5
    assert sorted(source.skipped) == sorted(broken_files(folder))
    assert "skipped 4 file(s)" in capsys.readouterr().out


LEFTOVERS = {  # what macOS, Windows, zip tools and notebooks leave beside photos
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "cat/.DS_Store": b"\x00\x00\x00\x01Bud1",
    "cat/._a.png": b"\x00\x05\x16\x07",  # AppleDouble: a .png name, not a PNG
    "cat/Thumbs.db": bytes(64),
    "dog/desktop.ini": b"[.ShellClassInfo]",
    "dog/notes.txt": b"about the dogs",
    "README.md": b"my photos",
    "__MACOSX/cat/._a.png": b"\x00\x05\x16\x07",
    "cat/.ipynb_checkpoints/a-checkpoint.png": b"",  # hidden folder: not even opened
    ".git/objects/ab": b"",
}


def test_os_leftovers_and_non_images_are_passed_over_in_one_line(folder, capsys):
    for name, data in LEFTOVERS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    source = ImageFolderSource(folder)  # no skip_bad needed: none of them is an image
    assert source.load().names == ["cat/a.png", "cat/b.png", "cat/c.jpg", "dog/d.gif", "dog/more/e.PNG"]
    assert source.skipped == []
    lines = [line for line in capsys.readouterr().out.splitlines() if "passed over" in line]
    assert len(lines) == 1 and "passed over 10 non-image file(s)" in lines[0]
    for shown in ("cat/._a.png", "cat/Thumbs.db", "__MACOSX/", "dog/notes.txt", "cat/.ipynb_checkpoints/", "README.md"):
        assert shown in lines[0]
    x, names = source.read_new(folder / "cat")  # predict.py on a folder: the same rule
    assert names == ["a.png", "b.png", "c.jpg"] and x.shape[0] == 3


def test_folders_that_cannot_work(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        ImageFolderSource(tmp_path / "missing").load()
    with pytest.raises(ConfigError, match="no class subfolders"):
        ImageFolderSource(tmp_path).load()
    (tmp_path / "cat").mkdir()
    noise_image("L", (4, 4)).save(tmp_path / "cat" / "a.png")
    with pytest.raises(ConfigError, match="at least two"):
        ImageFolderSource(tmp_path).load()
    (tmp_path / "dog").mkdir()
    with pytest.raises(ConfigError, match="dog has no images"):
        ImageFolderSource(tmp_path).load()
    (tmp_path / "dog" / ".DS_Store").write_bytes(b"\0\1")  # what a Mac leaves in a folder it showed
    with pytest.raises(ConfigError, match=r"dog has no images \(only 1 file\(s\) that are not images: dog/.DS_Store\)"):
        ImageFolderSource(tmp_path).load()
    with pytest.raises(ConfigError, match="data.channels"):
        ImageFolderSource(tmp_path, channels=2)


def test_read_new_with_only_the_saved_state(folder, tmp_path):
    source = ImageFolderSource(folder, channels=3, image_size=(10, 12))
    source.load()
    state = source.state_dict()
    torch.save(state, tmp_path / "state.pt")
    fresh = ImageFolderSource(root=None)  # predict.py: the training folder need not exist
    fresh.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert fresh.input_shape == (3, 10, 12)

    x, names = fresh.read_new(folder / "cat" / "c.jpg")
    assert names == ["c.jpg"] and torch.equal(x, source.read(2)[None])
    x, names = fresh.read_new(folder / "dog")
    assert names == ["d.gif", "more/e.PNG"] and torch.equal(x, torch.stack([source.read(3), source.read(4)]))

    (folder / "dog" / "cut.jpg").write_bytes(jpeg_bytes((64, 64))[:300])
    with pytest.raises(ConfigError, match="cut.jpg"):
        fresh.read_new(folder / "dog" / "cut.jpg")
    with pytest.raises(ConfigError, match="no such file"):
        fresh.read_new(folder / "nothing.png")


# ---- files as people have them -------------------------------------------------------------

GRADIENT = np.tile(np.linspace(0, 255, 16).round().astype(np.uint8), (16, 1))  # 16x16, dark left, bright right


def gradient_in_mode(mode: str, tmp_path) -> Path:
    """GRADIENT stored in `mode`, in a format that keeps that mode: (path)."""
    gray = Image.fromarray(GRADIENT)
    if mode in ("I;16", "I;16B"):
        image, ext = Image.fromarray(GRADIENT.astype(np.uint16) * 257), "png" if mode == "I;16" else "tif"
        image = (
            image if mode == "I;16" else Image.frombytes("I;16B", image.size, (GRADIENT.astype(">u2") * 257).tobytes())
        )
    elif mode == "I":
        image, ext = Image.fromarray(GRADIENT.astype(np.int32) * 257), "tif"
    elif mode == "F":
        image, ext = Image.fromarray(GRADIENT.astype(np.float32) / 255), "tif"  # floats in 0..1
    elif mode == "P+transparency":
        image, ext = gray.convert("P"), "png"
        image.info["transparency"] = 255  # nothing in GRADIENT is index 255 but its last column
    elif mode in ("CMYK", "YCbCr"):
        image, ext = gray.convert(mode), "jpg" if mode == "CMYK" else "tif"
    elif mode == "LAB":
        image, ext = gray.convert("RGB").convert("LAB"), "tif"
    else:
        image, ext = gray.convert(mode), {"1": "bmp", "P": "gif", "LA": "png", "PA": "png"}.get(mode, "png")
    path = tmp_path / mode.replace(";", "_").replace("+", "_")
    path.mkdir()
    image.save(path / f"x.{ext}", **({"quality": 100} if ext == "jpg" else {}))
    reopened = Image.open(path / f"x.{ext}")
    assert reopened.mode == mode.split("+")[0], (mode, reopened.mode)  # the file really holds that mode
    return path / f"x.{ext}"


@pytest.mark.parametrize(
    "mode", ["L", "LA", "P", "P+transparency", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "I;16", "I;16B", "I", "F"]
)
def test_every_pillow_mode_reads_as_a_person_sees_it(mode, tmp_path):
    """The gradient comes back as the gradient: 16-bit not clipped to white, floats not to
    black, CMYK not inverted; a transparent pixel is black."""
    path = gradient_in_mode(mode, tmp_path)
    source = ImageFolderSource(root=None)
    source.load_state_dict(
        {"channels": 1, "image_size": [16, 16], "extensions": list(ImageFolderSource(None).extensions)}
    )
    x = source.read_new(path)[0][0, 0].numpy() * 255
    expected = GRADIENT.astype(np.float32)
    if mode == "P+transparency":
        expected[:, -1] = 0
    tolerance = {"CMYK": 3, "LAB": 2, "YCbCr": 2}.get(mode, 0.5)
    assert np.abs(x - expected).max() <= tolerance, (mode, np.abs(x - expected).max())


@pytest.mark.slow  # importing data/datamodule.py imports lightning: ~10 s in a fresh worker
def test_the_few_images_rule_follows_the_data_modules_auto_splits():
    from {{cookiecutter.package_name}}.data.datamodule import resolve_fractions
    from {{cookiecutter.package_name}}.data.images import held_out_share

    for n in (214, 99_999, 100_000, 5_000_000):
        assert held_out_share(n) == min(resolve_fractions("auto", n).values())


def test_one_bit_images_read_black_and_white(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(GRADIENT).convert("1", dither=Image.Dither.NONE).save(tmp_path / "a" / "x.bmp")
    x = ImageFolderSource(None, channels=1, image_size=16).read_new(tmp_path / "a" / "x.bmp")[0][0, 0]
    assert set(x.unique().tolist()) == {0.0, 1.0} and x[:, 0].max() == 0 and x[:, -1].min() == 1


def test_exif_orientation_of_a_phone_jpeg(tmp_path):
    """A portrait photo as a phone writes it: stored sideways (JPEG) and tagged orientation 6."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    upright = np.zeros((40, 24, 3), dtype=np.uint8)
    upright[:6] = 255  # a bright band along the top, as a person sees it
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / "a" / "IMG_1.JPEG", exif=exif.tobytes()
    )
    Image.fromarray(upright).save(tmp_path / "b" / "plain.jpg")
    source = ImageFolderSource(tmp_path, channels=1, image_size=(40, 24))
    source.load()
    turned, plain = source.read(0)[0], source.read(1)[0]
    assert torch.allclose(turned, plain, atol=0.1)
    assert turned[:4].min() > 0.9 and turned[10:].max() < 0.1


def test_channels_auto_follows_what_the_folder_holds(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    Image.fromarray(GRADIENT).save(tmp_path / "a" / "gray.png")
    Image.fromarray(GRADIENT).convert("RGB").save(tmp_path / "b" / "gray as rgb.jpg")  # a scan saved as RGB
    Image.fromarray(GRADIENT).convert("P").save(tmp_path / "b" / "gray palette.gif")
    source = ImageFolderSource(tmp_path)
    source.load()
    assert source.channels == 1 and source.input_shape == (1, 32, 32)
    assert "data.channels=auto: 1 (grayscale), as all 3 images are gray" in capsys.readouterr().out

    colour = np.zeros((16, 16, 3), dtype=np.uint8)
    colour[..., 0] = 200  # red
    Image.fromarray(colour).save(tmp_path / "b" / "red.png")
    source = ImageFolderSource(tmp_path)
    source.load()
    assert source.channels == 3 and source.read(0).shape == (3, 32, 32)
    assert source.state_dict()["channels"] == 3  # predict.py reads new images as the run did
    assert "3 (RGB), as 1 of 4 images have colour (e.g. b/red.png)" in capsys.readouterr().out

    fixed = ImageFolderSource(tmp_path, channels=1)  # asked for: kept, and nothing to say
    fixed.load()
    assert fixed.channels == 1 and "data.channels" not in capsys.readouterr().out


def test_upper_case_extensions_spaces_and_accents(tmp_path):
    for name in ("chats noirs", "chiens d'été"):
        (tmp_path / name).mkdir()
    Image.fromarray(GRADIENT).save(tmp_path / "chats noirs" / "Été 2024 n°1.JPG", format="JPEG")
    Image.fromarray(GRADIENT).save(tmp_path / "chats noirs" / "IMG 2.PNG")
    Image.fromarray(GRADIENT).save(tmp_path / "chiens d'été" / "ça.JPEG", format="JPEG")
    Image.fromarray(GRADIENT).save(tmp_path / "chiens d'été" / "b.Tiff")
    source = ImageFolderSource(tmp_path)
    examples = source.load()
    assert examples.names == [
        "chats noirs/IMG 2.PNG",
        "chats noirs/Été 2024 n°1.JPG",
        "chiens d'été/b.Tiff",
        "chiens d'été/ça.JPEG",
    ]
    assert list(examples.targets) == ["chats noirs"] * 2 + ["chiens d'été"] * 2


def test_degenerate_images_are_warned_in_one_line(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    Image.new("L", (25, 25)).save(tmp_path / "a" / "small but fine.png")  # lfw's 25x25 for 32x32: fine
    Image.new("L", (40, 40)).save(tmp_path / "b" / "big.png")
    ImageFolderSource(tmp_path).load()
    assert "far smaller" not in capsys.readouterr().out
    Image.new("L", (1, 1)).save(tmp_path / "a" / "pixel.png")
    Image.new("RGB", (200, 6)).save(tmp_path / "b" / "sliver.jpg")
    ImageFolderSource(tmp_path).load()
    warnings = [line for line in capsys.readouterr().out.splitlines() if "far smaller" in line]
    assert len(warnings) == 1
    assert "2 image(s) far smaller than data.image_size=[32, 32] (a/pixel.png 1x1, b/sliver.jpg 200x6)" in warnings[0]


def test_a_class_with_too_few_images_is_warned_with_how_many_are_needed(tmp_path, capsys):
    for name, n in (("many", 12), ("one", 1), ("three", 3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(np.full((8, 8), i * 20, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    ImageFolderSource(tmp_path, image_size=8).load()
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "2 class(es) with few images (one 1, three 3)" in warnings[0]
    assert "needs 10 or more" in warnings[0] and "4 at the very least" in warnings[0]


# ---- a real photo folder: faces vs other scenes (photo_folder.py) ------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder.write(tmp_path_factory.mktemp("photos") / "my photos")


def test_real_photos_read_back_as_the_pixels_they_hold(photos, capsys):
    """Each of lfw's 200 faces / non-faces, stored in one of ten ways (PNG L, JPEG, RGBA,
    palette with transparency, CMYK, 16-bit, EXIF-rotated, TIFF, WebP, GIF; upper-case
    extensions, spaces and accents), reads back as lfw's own pixels."""
    from skimage.data import lfw_subset

    source = ImageFolderSource(photos, channels=1, image_size=25)
    examples = source.load()
    out = capsys.readouterr().out
    assert "passed over 8 non-image file(s)" in out and "warning" not in out
    assert source.skipped == [] and len(examples.names) == 214  # 200 lfw + 14 real photos
    lfw = lfw_subset()
    for i, original in enumerate(lfw):
        folder, n = (photo_folder.FACES, i) if i < 100 else (photo_folder.OTHERS, i - 100)
        (name,) = [k for k, m in enumerate(examples.names) if m.startswith(f"{folder}/") and f"lfw {n:03d}" in m]
        got = source.read(name)[0].numpy()
        # JPEG and the 64-colour palette cost a few levels; the palette's transparent darkest entry -> black
        assert np.abs(got - original).mean() < 3 / 255, examples.names[name]


def test_real_photos_take_colour_from_the_folder_and_turn_upright(photos, capsys):
    source = ImageFolderSource(photos, image_size=(60, 40))
    with warnings.catch_warnings():  # Pillow warns on a palette with transparency read the plain way
        warnings.simplefilter("error")
        source.load()
        assert all(torch.isfinite(source.read(i)).all() for i in range(len(source.names)))
    assert (
        source.channels == 3
        and "data.channels=auto: 3 (RGB), as 10 of 214 images have colour" in capsys.readouterr().out
    )
    coffee = Image.open(photo_folder._bundled("coffee.png")).convert("RGB").resize((40, 60))  # as a person sees it
    read = source.read(source.names.index(f"{photo_folder.OTHERS}/IMG_0042 coffee.jpeg"))
    upright = torch.from_numpy(np.asarray(coffee, dtype=np.float32).transpose(2, 0, 1) / 255)
    assert (read - upright).abs().mean() < 0.05  # stored sideways + orientation 6: turned back
    assert (read - upright.flip(-1)).abs().mean() > 0.1


def test_planted_broken_files_in_real_photos_are_named_or_skipped(photos, tmp_path, capsys):
    planted = tmp_path / "photos"
    shutil.copytree(photos, planted)
    (planted / photo_folder.FACES / "IMG_9999.jpg").write_bytes(b"")  # zero bytes: a copy that failed
    cut = planted / photo_folder.OTHERS / "cut short.png"
    cut.write_bytes((photos / photo_folder.OTHERS / "flower rgba.png").read_bytes()[:5000])
    with pytest.raises(
        ConfigError, match=r"cut short.png is not a readable image \(image file is truncated\) \(1 more"
    ):
        ImageFolderSource(planted).load()  # the first in folder order, and how many more there are
    cut.rename(tmp_path / "away.png")
    with pytest.raises(ConfigError, match=r"faces/IMG_9999.jpg is not a readable image \(empty: 0 bytes\); remove it"):
        ImageFolderSource(planted).load()
    (tmp_path / "away.png").rename(cut)
    source = ImageFolderSource(planted, skip_bad=True)
    assert len(source.load().names) == 214
    assert source.skipped == [f"{photo_folder.OTHERS}/cut short.png", f"{photo_folder.FACES}/IMG_9999.jpg"]
    assert "data.skip_bad: skipped 2 file(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_broken_photo_stops_train_py_in_one_line_exit_2(photos, tmp_path):
    planted = tmp_path / "photos"
    shutil.copytree(photos, planted)
    (planted / photo_folder.OTHERS / "IMG_9999.jpg").write_bytes(b"")
    done = run_cli(
        "train.py", "data=image_folder", f"data.path={planted}", "logger=none", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and "IMG_9999.jpg" in done.stderr
    assert "skip_bad=true" in done.stderr.strip().splitlines()[-1]


def nearly_blank(path: Path) -> bool:
    return float(np.asarray(Image.open(path).convert("L"), dtype=np.float32).std()) < 5  # of 255


@pytest.mark.slow
def test_real_photo_folder_trains_with_every_default_and_beats_the_baseline(photos, tmp_path, capsys):
    """data=image_folder data.path=DIR and nothing else: the fast checks before training pass
    (their one warning is judged below), and dev beats predicting the majority class. The
    diagnosis has its reference beside the net: a linear model on the standardized pixels."""
    from {{cookiecutter.package_name}}.training.fit import train

    out = tmp_path / "run"
    summary = train(compose_train(out, "data=image_folder", f"data.path={photos}", "trainer.max_epochs=8"))
    reference = json.loads((out / "diagnosis.json").read_text())["reference"]
    assert reference["model"].startswith("an L2-regularized linear model") and 0 < reference["scores"]["dev"] <= 1
    assert "reference (an L2-regularized linear model" in capsys.readouterr().out
    checks = json.loads((out / "checks.json").read_text())
    assert not [c["id"] for c in checks if c["status"] == "fail"]
    for warned in (c for c in checks if c["status"] == "warn"):
        # lfw's non-faces hold a few all-but-black patches (std < 2 of 255): two of them in
        # train and dev are near copies indeed, so that warning is right, not a false alarm
        assert warned["id"] == "data.near_duplicates", warned
        with open(out / "near_duplicates.csv") as f:
            pairs = [line.rstrip("\n").split(",")[-2:] for line in f.readlines()[1:]]
        assert pairs and all(nearly_blank(photos / a) and nearly_blank(photos / b) for a, b in pairs), pairs
    dev_targets = [Path(name).parts[0] for name in json.loads((out / "summary.json").read_text()).get("dev_names", [])]
    majority = 113 / 214  # the larger class's share; dev is a random 10%
    assert summary["scores"]["dev"] >= 0.85 > majority + 0.2, (summary["scores"], dev_targets)


# ---- the shipped example experiments, on a fresh project -------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "experiment, written",
    [("table_example", "examples/animals.csv"), ("image_folder_example", "examples/digit_images")],
)
def test_a_shipped_experiment_runs_as_shipped_and_writes_its_data_once(experiment, written, tmp_path):
    """A fresh project has no examples/: the experiment writes its data, says so in one line."""
    args = [str(PROJECT / "train.py"), f"+experiment={experiment}", "trainer.max_epochs=1", "logger=none"]
    done = run_cli(*args, "checks.before_train=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    said = [line for line in done.stdout.splitlines() if line.startswith("example: wrote")]
    assert len(said) == 1 and written in said[0] and (tmp_path / written).exists()
    assert not list(tmp_path.glob("examples/.*writing*"))  # no scratch copy left behind


def test_only_the_shipped_path_is_filled_with_example_data(tmp_path, monkeypatch, make_cfg):
    monkeypatch.chdir(tmp_path)

    def example_of(cfg):  # what build_datamodule passes on
        return ensure_example(cfg.get("example"), cfg.data.get("path"))

    mine = make_cfg("+experiment=table_example", "data.path=my_data.csv")
    assert example_of(mine) is None and not (tmp_path / "my_data.csv").exists()  # the table's own error follows
    shipped = make_cfg("+experiment=table_example")
    assert example_of(shipped) == Path("examples/animals.csv") and (tmp_path / "examples/animals.csv").is_file()
    assert example_of(shipped) is None  # there now: left as it is
    with pytest.raises(ConfigError, match="example=pictures: the shipped examples are table, images"):
        example_of(make_cfg("+experiment=table_example", "example=pictures"))


# ---- augmentation ---------------------------------------------------------------------------

IMAGES = torch.randn(16, 3, 12, 12)


def test_all_off_is_the_identity():
    augment = Augment((3, 12, 12))
    assert not augment and not augment.active and augment(IMAGES) is IMAGES
    assert build_augment(None, (3, 12, 12)) is None
    assert (
        build_augment(
            {"crop_padding": 0, "flip": 0.0, "rotation": 0, "color_jitter": 0, "noise": 0, "mixup": 0.2}, (3, 12, 12)
        )
        is None
    )


@pytest.mark.parametrize(
    "option", [{"crop_padding": 2}, {"flip": 0.5}, {"rotation": 20}, {"color_jitter": 0.3}, {"noise": 0.1}]
)
def test_each_image_option_changes_the_batch_repeatably(option):
    augment = Augment((3, 12, 12), **option)
    assert augment and augment.state_dict() == {}  # nothing enters a checkpoint
    torch.manual_seed(0)
    first = augment(IMAGES)
    torch.manual_seed(0)
    again = augment(IMAGES)
    assert first.shape == IMAGES.shape and first.dtype == IMAGES.dtype
    assert not torch.equal(first, IMAGES) and torch.equal(first, again)
    assert augment(IMAGES.half()).dtype == torch.float16


def test_flip_mirrors_and_small_shifts_keep_most_pixels():
    assert torch.equal(Augment((3, 12, 12), flip=1.0)(IMAGES), IMAGES.flip(-1))
    ones = torch.ones(4, 1, 12, 12)  # edge-replicated padding and border fill add no new values
    assert torch.allclose(Augment((1, 12, 12), crop_padding=3, rotation=30)(ones), ones)


def test_noise_on_a_table_has_the_asked_std():
    x = torch.zeros(4096, 8)
    out = build_augment({"noise": 0.5}, (8,))(x)
    assert out.shape == x.shape and abs(out.std().item() - 0.5) < 0.02


@pytest.mark.parametrize("key", ["crop_padding", "flip", "rotation", "color_jitter"])
def test_image_only_options_on_a_table_are_refused(key):
    with pytest.raises(ConfigError, match=f"regularizer.augment.{key}=0"):
        build_augment({key: 1}, (8,))


def test_config_mistakes():
    with pytest.raises(ConfigError, match="crop_padding, flip, rotation, color_jitter, noise, mixup"):
        build_augment({"hue": 0.1}, (3, 12, 12))
    with pytest.raises(ConfigError, match="probability"):
        build_augment({"flip": 2}, (3, 12, 12))
    with pytest.raises(ConfigError, match=">= 0"):
        build_augment({"mixup": -1}, (3, 12, 12))
    from omegaconf import OmegaConf

    assert build_augment(OmegaConf.create({"rotation": 10, "mixup": 0.2}), [3, 12, 12]).active


def test_mixup_is_a_convex_combination():
    x, y = torch.randn(32, 5), torch.arange(32)
    mixed, y_same, y_shuffled, lam = mixup(x, y, alpha=0.4, generator=torch.Generator().manual_seed(0))
    assert 0 <= lam <= 1 and torch.equal(y_same, y) and sorted(y_shuffled.tolist()) == y.tolist()
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[y_shuffled])  # y = arange: y_shuffled is the permutation
    again = mixup(x, y, alpha=0.4, generator=torch.Generator().manual_seed(0))
    assert again[3] == lam and torch.equal(again[2], y_shuffled)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_cuda():
    x = IMAGES.cuda()
    out = Augment((3, 12, 12), crop_padding=2, flip=0.5, rotation=10, color_jitter=0.1, noise=0.1)(x)
    assert out.device == x.device and out.shape == x.shape and out.dtype == x.dtype
    mixed, _, _, _ = mixup(x, torch.arange(16, device="cuda"), alpha=0.2)
    assert mixed.device == x.device
