"""Image folders (ImageFolderSource) and training-time augmentation (augment.py), on small
folders written here with Pillow. Independent of the data module."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from {{cookiecutter.package_name}}.augment import Augment, build_augment, mixup
from {{cookiecutter.package_name}}.config import ConfigError
from {{cookiecutter.package_name}}.images import ImageFolderSource

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
    """(relative name, writer) of files a folder should not hold."""
    return {
        "cat/.DS_Store": lambda p: p.write_bytes(b"\x00\x00\x00\x01Bud1"),
        "cat/x.png": lambda p: p.write_text("not an image"),
        "dog/cut.jpg": lambda p: p.write_bytes(jpeg_bytes((64, 64))[:300]),  # truncated
        "dog/notes.txt": lambda p: p.write_text("about the dogs"),
    }


@pytest.mark.parametrize("name", ["cat/.DS_Store", "cat/x.png", "dog/cut.jpg", "dog/notes.txt"])
def test_a_bad_file_is_named_or_skipped_and_counted(folder, name, capsys):
    broken_files(folder)[name](folder / name)
    with pytest.raises(ConfigError, match="skip_bad=true") as error:
        ImageFolderSource(folder).load()
    assert name in str(error.value) and "\n" not in str(error.value)

    source = ImageFolderSource(folder, skip_bad=True)
    assert len(source.load().names) == 5
    assert source.skipped == [name]
    assert "skipped 1 file" in capsys.readouterr().out


def test_skip_bad_counts_them_all(folder, capsys):
    for name, write in broken_files(folder).items():
        write(folder / name)
    source = ImageFolderSource(folder, skip_bad=True)
    assert len(source.load().names) == 5
    assert sorted(source.skipped) == sorted(broken_files(folder))
    assert "skipped 4 file" in capsys.readouterr().out


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
