"""The four splits (M4), standardization fitted on train only (M7), in-memory batching."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from {{cookiecutter.package_name}}.config import ConfigError
from {{cookiecutter.package_name}}.data import InMemoryLoader, make_splits, resolve_fractions

DATASETS = ["digits", "digits_shifted", "breast_cancer", "diabetes"]


def datamodule(make_cfg, *overrides):
    dm = instantiate(make_cfg(*overrides).data)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("data", DATASETS)
def test_splits_are_disjoint_cover_everything_and_stable(make_cfg, data):
    first = datamodule(make_cfg, f"data={data}")
    again = datamodule(make_cfg, f"data={data}")
    sets = {k: set(v.tolist()) for k, v in first.indices.items()}
    assert all(sets.values()), "no split may be empty"
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], f"{a} and {b} share examples"
    assert set().union(*sets.values()) == set(range(len(first._y)))
    for k in first.indices:
        assert torch.equal(first.indices[k], again.indices[k]), f"{k} changed between two runs with the same seed"


def test_split_seed_changes_splits_but_training_seed_does_not(make_cfg):
    base = datamodule(make_cfg)
    other_seed = datamodule(make_cfg, "seed=7")  # training seed: the vault must not move
    other_split = datamodule(make_cfg, "data.split_seed=1")
    assert torch.equal(base.indices["test"], other_seed.indices["test"])
    assert not torch.equal(base.indices["test"], other_split.indices["test"])


def test_default_fractions_small_and_large_data():
    assert resolve_fractions("auto", 1797) == {"train_dev": 0.1, "dev": 0.1, "test": 0.1}
    assert resolve_fractions("auto", 1_000_000) == {"train_dev": 0.01, "dev": 0.01, "test": 0.01}
    idx = make_splits(1797, resolve_fractions("auto", 1797), seed=0)
    assert [len(idx[k]) for k in ("train", "train_dev", "dev", "test")] == [1257, 180, 180, 180]


@pytest.mark.parametrize("bad", ["{train_dev: 0.5, dev: 0.3, test: 0.3}", "{train_dev: 0, dev: 0.1, test: 0.1}"])
def test_bad_fractions_are_a_one_line_config_error(make_cfg, bad):
    with pytest.raises(ConfigError, match="data.splits"):
        datamodule(make_cfg, f"data.splits={bad}")


def test_shifted_data_keeps_dev_and_test_in_the_target_distribution(make_cfg):
    dm = datamodule(make_cfg, "data=digits_shifted")
    domain = dm.source()["domain"]
    assert (domain[dm.indices["dev"].numpy()] == 1).all() and (domain[dm.indices["test"].numpy()] == 1).all()
    assert (domain[dm.indices["train"].numpy()] == 0).all() and (domain[dm.indices["train_dev"].numpy()] == 0).all()
    # and the shift is real: the distorted images differ from the clean originals
    clean = datamodule(make_cfg)
    dev = dm.indices["dev"]
    assert (dm._x[dev] - clean._x[dev]).abs().mean() > 1.0


def test_standardization_is_fitted_on_train_only(make_cfg):
    dm = datamodule(make_cfg, "data=breast_cancer")
    x_train, _ = dm.split("train")
    assert x_train.mean(0).abs().max() < 1e-4 and (x_train.std(0) - 1).abs().max() < 1e-3
    raw_train = dm._x[dm.indices["train"]]
    assert torch.allclose(dm.standardizer.mean, raw_train.mean(0))
    raw_all = dm._x[torch.cat([dm.indices[k] for k in ("train", "train_dev", "dev")])]
    assert not torch.allclose(dm.standardizer.mean, raw_all.mean(0)), "statistics leaked from other splits"


def test_training_and_validation_never_read_the_test_split(make_cfg):
    dm = datamodule(make_cfg)
    dm.train_dataloader(), dm.val_dataloader(), dm.label_prior()
    assert dm.test_reads == 0
    dm.split("test")
    assert dm.test_reads == 1


def test_in_memory_loader_serves_whole_batches_and_shards_ranks():
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    loader = InMemoryLoader(x, y, batch_size=4, shuffle=False)
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(loader) == 3
    shuffled = InMemoryLoader(x, y, batch_size=10, shuffle=True, seed=0)
    first, second = next(iter(shuffled))[1], next(iter(shuffled))[1]
    assert sorted(first.tolist()) == list(range(10)) and not torch.equal(first, second), "must reshuffle every epoch"
    ranks = [InMemoryLoader(x, y, batch_size=2, shuffle=True, seed=3, rank=r, world_size=3) for r in range(3)]
    seen = [torch.cat([b[1] for b in r]) for r in ranks]
    assert len({len(s) for s in seen}) == 1, "every rank must run the same number of steps"
    assert set(torch.cat(seen).tolist()) == set(range(10))


def test_source_with_wrong_shape_is_a_config_error(make_cfg):
    with pytest.raises(ConfigError, match=r"data.input_shape=\[1, 4, 4\].*set data.input_shape=\[1, 8, 8\]"):
        datamodule(make_cfg, "data.input_shape=[1,4,4]")


def test_digits_are_the_real_bundled_images(make_cfg):
    dm = datamodule(make_cfg)
    assert dm._x.shape == (1797, 1, 8, 8) and sorted(np.unique(dm._y.numpy())) == list(range(10))
