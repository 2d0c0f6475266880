"""The four splits (M4), standardization fitted on train only (M7), in-memory batching,
the data spec read off the source, and the declared interface (loaders, samples, test reads)."""

import numpy as np
import pytest
import torch

from {{cookiecutter.package_name}}.build import build_datamodule
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.datamodule import InMemoryLoader, make_splits, resolve_fractions
from {{cookiecutter.package_name}}.tasks.targets import infer_task
from {{cookiecutter.package_name}}.user.sources import load_digits

DATASETS = ["digits", "digits_shifted", "breast_cancer", "diabetes"]


def datamodule(make_cfg, *overrides):
    return build_datamodule(make_cfg(*overrides))


def split_index(dm, name):
    """The example indices of a split, read through a loader as any consumer reads them."""
    return torch.cat([b[2] for b in dm.loader(name)])


@pytest.mark.parametrize("data", DATASETS)
def test_splits_are_disjoint_cover_everything_and_stable(make_cfg, data):
    first = datamodule(make_cfg, f"data={data}")
    again = datamodule(make_cfg, f"data={data}")
    indices = {k: split_index(first, k) for k in ("train", "train_dev", "dev", "test")}
    sets = {k: set(v.tolist()) for k, v in indices.items()}
    assert all(sets.values()), "no split may be empty"
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], f"{a} and {b} share examples"
    assert set().union(*sets.values()) == set(range(sum(len(v) for v in sets.values())))
    for k, v in indices.items():
        assert torch.equal(v, split_index(again, k)), f"{k} changed between two runs with the same seed"


def test_split_seed_changes_splits_but_training_seed_does_not(make_cfg):
    base = datamodule(make_cfg)
    other_seed = datamodule(make_cfg, "seed=7")  # training seed: the vault must not move
    other_split = datamodule(make_cfg, "data.split_seed=1")
    assert torch.equal(split_index(base, "test"), split_index(other_seed, "test"))
    assert not torch.equal(split_index(base, "test"), split_index(other_split, "test"))


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
    domain = dm.source.fn()["domain"]
    index = {k: split_index(dm, k).numpy() for k in ("train", "train_dev", "dev", "test")}
    assert (domain[index["dev"]] == 1).all() and (domain[index["test"]] == 1).all()
    assert (domain[index["train"]] == 0).all() and (domain[index["train_dev"]] == 0).all()
    # and the shift is real: the distorted images differ from the clean originals
    clean = datamodule(make_cfg)
    dev = torch.from_numpy(index["dev"])
    raw = dm.standardizer.inverse(dm.examples(dev)[0])
    assert (raw - clean.standardizer.inverse(clean.examples(dev)[0])).abs().mean() > 1.0


def test_standardization_is_fitted_on_train_only(make_cfg):
    dm = datamodule(make_cfg, "data=breast_cancer")
    x_train = torch.cat([b[0] for b in dm.loader("train")])
    assert x_train.mean(0).abs().max() < 1e-4 and (x_train.std(0) - 1).abs().max() < 1e-3
    raw = dm.source.fn()["x"]
    raw_train = torch.from_numpy(raw[split_index(dm, "train").numpy()])
    assert torch.allclose(dm.standardizer.mean, raw_train.mean(0), atol=1e-5)
    raw_all = torch.from_numpy(raw[torch.cat([split_index(dm, k) for k in ("train", "train_dev", "dev")]).numpy()])
    assert not torch.allclose(dm.standardizer.mean, raw_all.mean(0), atol=1e-5), "statistics leaked from other splits"


def test_training_and_validation_never_read_the_test_split(make_cfg):
    dm = datamodule(make_cfg)
    dm.train_dataloader(), dm.val_dataloader(), dm.targets("train"), dm.sample("dev", 8), dm.fingerprints("dev")
    assert dm.test_reads == 0
    dm.loader("test")
    dm.sample("test", 1)
    assert dm.test_reads == 2


def test_in_memory_loader_serves_whole_batches_and_shards_ranks():
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    loader = InMemoryLoader(x, y, batch_size=4, shuffle=False)
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b[2].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], "batches carry example indices"
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
    assert sum(dm.size(k) for k in ("train", "train_dev", "dev", "test")) == 1797
    assert dm.spec.input_shape == (1, 8, 8) and dm.spec.class_names == [str(c) for c in range(10)]
    assert sorted(np.unique(dm.targets("train").numpy())) == list(range(10))


@pytest.mark.parametrize(
    "data, task, shape, classes",
    [
        ("digits", "multiclass", (1, 8, 8), 10),
        ("breast_cancer", "binary", (30,), 2),
        ("diabetes", "regression", (10,), None),
    ],
)
def test_the_spec_is_read_off_the_source_not_typed(make_cfg, data, task, shape, classes):
    spec = datamodule(make_cfg, f"data={data}").spec
    assert (spec.task, spec.input_shape, spec.num_classes) == (task, shape, classes)
    if data == "breast_cancer":
        assert spec.class_names == ["malignant", "benign"] and spec.feature_names[0] == "mean radius"


def test_a_typed_num_classes_that_disagrees_is_a_one_line_error(make_cfg):
    with pytest.raises(
        ConfigError, match=r"data.num_classes=7 but the targets have 10 classes.*set data.num_classes=10"
    ):
        datamodule(make_cfg, "data.num_classes=7")


def test_the_task_is_inferred_from_the_targets():
    assert infer_task(np.array(["cat", "dog", "bird"] * 3, dtype=object)) == "multiclass"
    assert infer_task(np.array(["no", "yes"] * 3, dtype=object)) == "binary"
    assert infer_task(np.array([0, 1, 2, 1])) == "multiclass"
    assert infer_task(np.array([0.0, 1.0, 1.0])) == "binary"
    assert infer_task(np.linspace(0, 1, 500)) == "regression"
    assert infer_task(np.arange(200)) == "regression"  # many whole numbers: a count or a price, not classes
    assert infer_task(np.array([[0, 1], [1, np.nan], [-1, 0]])) == "multilabel"  # several 0/1 labels per example


def strings_for_labels():
    d = load_digits()
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"], dtype=object)
    return {"x": d["x"], "y": names[d["y"]]}


def test_string_labels_become_class_ids_with_their_names(make_cfg):
    dm = datamodule(make_cfg, f"data.source._target_={__name__}.strings_for_labels")
    assert dm.spec.task == "multiclass" and dm.spec.class_names == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    x, y, index = dm.sample("dev", 5)
    assert y.dtype == torch.long and all(
        dm.spec.class_names[c] == strings_for_labels()["y"][i] for c, i in zip(y.tolist(), index.tolist())
    )


def rows_mismatch():
    d = load_digits()
    return {"x": d["x"], "y": d["y"][:1792]}


def dev_only_class():
    d = load_digits()
    first_dev = int(make_splits(1797, resolve_fractions("auto", 1797), seed=0)["dev"][0])
    return {"x": d["x"], "y": np.where(np.arange(len(d["y"])) == first_dev, 99, d["y"])}  # one dev example of class 99


@pytest.mark.parametrize(
    "fn, message",
    [
        ("rows_mismatch", r"1797 inputs but 1792 targets"),
        ("dev_only_class", r"occur in \w+ but never in train"),
    ],
)
def test_sources_that_cannot_be_right_are_one_line_errors(make_cfg, fn, message):
    with pytest.raises(ConfigError, match=message):
        datamodule(make_cfg, f"data.source._target_={__name__}.{fn}", "data.split_seed=0")


def test_no_training_batch_holds_a_single_example():
    """Batch norm cannot train on one example: a last batch of one joins the one before it
    (when training; evaluation keeps every batch as it is)."""
    x, y = torch.arange(9.0).reshape(9, 1), torch.arange(9)
    train = InMemoryLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert [len(b[1]) for b in train] == [4, 5] and len(train) == 2
    assert sorted(torch.cat([b[1] for b in train]).tolist()) == list(range(9)), "every example, once"
    assert [len(b[1]) for b in InMemoryLoader(x, y, batch_size=4, shuffle=False)] == [4, 4, 1]


def test_a_loader_stopped_mid_epoch_goes_on_with_the_next_batch():
    x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    straight = [b[2].tolist() for b in InMemoryLoader(x, y, batch_size=3, shuffle=True, seed=1)]
    stopped = InMemoryLoader(x, y, batch_size=3, shuffle=True, seed=1)
    it = iter(stopped)
    next(it), next(it)
    resumed = InMemoryLoader(x, y, batch_size=3, shuffle=True, seed=1)
    resumed.load_state_dict(stopped.state_dict())  # what a checkpoint carries
    assert [b[2].tolist() for b in resumed] == straight[2:]


# --------------------------------------------------------------------------- a table as it comes (issue 22)
def real_targets():
    """(name, targets as the CSV holds them, the task a person would pick) on real public tables."""
    from sklearn.datasets import load_diabetes, load_wine

    cases = [
        ("sklearn diabetes progression (214 whole numbers)", load_diabetes()["target"], "regression"),
        ("sklearn wine cultivar 0/1/2", load_wine()["target"], "multiclass"),
    ]
    vega = pytest.importorskip("vega_datasets").data
    cars = vega.cars()
    mpg = cars["Miles_per_Gallon"].dropna().to_numpy()
    cases += [
        ("cars miles per gallon", mpg, "regression"),
        ("cars miles per gallon, rounded: 37 whole numbers, many rare", np.round(mpg), "regression"),
        ("cars cylinders 3/4/5/6/8 (two rare)", cars["Cylinders"].to_numpy(), "multiclass"),
        ("la_riots age, 62 rows, 30 whole numbers", vega.la_riots()["age"].dropna().to_numpy(), "regression"),
        ("seattle weather", vega.seattle_weather()["weather"].to_numpy(dtype=object), "multiclass"),
    ]
    return cases


def test_the_task_of_real_targets_is_the_one_a_person_would_pick():
    for name, targets, task in real_targets():
        assert infer_task(np.asarray(targets)) == task, name


def test_a_class_with_one_example_says_how_many_are_needed(make_cfg, tmp_path):
    vega = pytest.importorskip("vega_datasets").data
    frame = vega.seattle_weather()
    dev = make_splits(len(frame), resolve_fractions("auto", len(frame)), seed=0)["dev"]
    frame.loc[int(dev[0]), "weather"] = "hail"  # the one hail day of four years falls in dev
    frame.to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(
        ConfigError, match=r"\['hail'\] occur in dev .* 'hail' has 1 example .* needs at least 10 examples"
    ):
        datamodule(make_cfg, "data=table", f"data.path={tmp_path / 'w.csv'}", "data.target=weather")


def test_a_two_row_table_says_how_many_examples_the_splits_need(make_cfg, tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n1,x\n2,z\n")
    with pytest.raises(ConfigError, match=r"empty with 2 examples: these fractions need at least 6 examples"):
        datamodule(make_cfg, "data=table", f"data.path={tmp_path / 't.csv'}", "data.target=y")


@pytest.mark.slow
def test_a_regression_table_trains_with_every_default(make_cfg, tmp_path, capsys):
    """sklearn's diabetes table as a CSV, nothing but data.path and data.target: the task and the
    objective follow the data, and every place that reads the objective sees mae."""
    from sklearn.datasets import load_diabetes

    from {{cookiecutter.package_name}}.training.fit import train

    load_diabetes(as_frame=True).frame.to_csv(tmp_path / "diabetes.csv", index=False)
    cfg = make_cfg(
        "data=table",
        f"data.path={tmp_path / 'diabetes.csv'}",
        "data.target=target",
        "trainer.max_epochs=3",
        output_dir=tmp_path / "run",
    )
    summary = train(cfg)
    out = capsys.readouterr().out
    assert "task: regression (data.target='target': 214 distinct whole numbers" in out
    assert "objective: mae (min), the default for task regression" in out
    assert summary["objective"] == "mae" and summary["scores"]["dev"] < 60  # predicting the mean: 65
    assert cfg.objective.mode == "min" and trainer_monitor(cfg) == "dev/mae"


def trainer_monitor(cfg) -> str:
    from hydra.utils import instantiate

    return instantiate(cfg.callbacks.model_checkpoint).monitor


def test_the_objective_is_known_before_a_run_for_a_sweep_to_read(make_cfg):
    """A sweep creates its study (maximize or minimize) before any trial reads the data."""
    from {{cookiecutter.package_name}}.build import resolved_objective

    assert resolved_objective(make_cfg("data=diabetes")) == ("mae", "min")
    assert resolved_objective(make_cfg("data=breast_cancer")) == ("accuracy", "max")
    assert resolved_objective(make_cfg("data=diabetes", "objective.metric=mse")) == ("mse", "min")
    cfg = make_cfg("data=diabetes")
    resolved_objective(cfg)
    assert cfg.objective.metric == "auto"  # the config itself stays as the user wrote it
