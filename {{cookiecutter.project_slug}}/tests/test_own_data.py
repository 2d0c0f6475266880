"""Your own data from files, end to end: an image folder and a table train, check, diagnose,
evaluate and predict with their own class and example names; preprocessing fitted on train
only; augmentation on train batches only; bad inputs refused in one line with nothing written."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PROJECT, compose_train, run_cli

from {{cookiecutter.package_name}}.build import build_datamodule
from {{cookiecutter.package_name}}.checks import run_checks
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.examples import DIGIT_NAMES, write_example_images, write_example_table
from {{cookiecutter.package_name}}.data.images import ImageFolderSource
from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint
from {{cookiecutter.package_name}}.evaluation.new_inputs import predict_file
from {{cookiecutter.package_name}}.training.fit import train
from {{cookiecutter.package_name}}.vault.final_evaluation import evaluate
from {{cookiecutter.package_name}}.vault.ledger import read_ledger

SHORT = ["trainer.max_epochs=2", "logger=none", "trainer.enable_progress_bar=false", "checks.before_train=fast"]


def compose_run(out: Path, *overrides: str):
    return compose_train(out, *SHORT, *overrides)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    return {"images": write_example_images(root / "digit_images"), "table": write_example_table(root / "animals.csv")}


# --------------------------------------------------------------------------- image folders
@pytest.fixture(scope="module")
def image_run(examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("image_run")
    cfg = compose_run(
        out,
        "+experiment=image_folder_example",
        f"data.path={examples['images']}",
        "data.image_size=[8,8]",
        "data.num_workers=0",
        "trainer.max_epochs=3",
    )
    return out, cfg, train(cfg)


def test_image_folder_trains_with_class_and_file_names_in_every_report(image_run):
    out, cfg, summary = image_run
    assert summary["scores"]["dev"] > 0.5 and summary["test_split_reads"] == 0
    spec = json.loads((out / "preprocessing.json").read_text())["spec"]
    assert spec["class_names"] == sorted(DIGIT_NAMES) and spec["input_shape"] == [1, 8, 8]  # read off the folders
    confusion = read_csv(out / "confusion_matrix.csv")
    assert [r["true\\pred"] for r in confusion] == sorted(DIGIT_NAMES)
    assert {r["class"] for r in read_csv(out / "per_class_metrics.csv")} == set(DIGIT_NAMES)
    worst = read_csv(out / "worst_mistakes.csv")
    assert worst and all(r["example"].split("/")[0] == r["y_true"] and r["example"].endswith(".png") for r in worst)
    assert (out / "worst_mistakes.png").is_file()


@pytest.mark.slow
def test_image_folder_checks_diagnose_evaluate_and_predict(image_run, examples, tmp_path):
    out, cfg, summary = image_run
    results = run_checks(cfg, out_dir=tmp_path / "checks")
    assert all(r.status == "pass" for r in results), [
        (r.id, r.status, r.message) for r in results if r.status != "pass"
    ]
    diagnosis = diagnose_checkpoint(summary["best_checkpoint"], out_dir=str(tmp_path / "diag"))
    assert diagnosis["test_split_reads"] == 0 and diagnosis["error_analysis"]["class_names"] == sorted(DIGIT_NAMES)
    result = evaluate(
        [summary["best_checkpoint"]], PROJECT, ledger=tmp_path / "ledger.jsonl", out_dir=tmp_path / "eval"
    )
    assert result["scores"]["test"]["n"] > 0 and len(read_ledger(tmp_path / "ledger.jsonl")) == 1

    one = examples["images"] / "seven" / sorted(p.name for p in (examples["images"] / "seven").iterdir())[0]
    single = predict_file(summary["best_checkpoint"], str(one), str(tmp_path / "one.csv"))
    assert single["n"] == 1 and single["rows"][0]["prediction"] in DIGIT_NAMES and "p_seven" in single["rows"][0]
    folder = predict_file(summary["best_checkpoint"], str(examples["images"] / "three"))
    written = Path(folder["output"])
    assert written.parent == out / "predictions" and not any((examples["images"]).glob("*.csv")), (
        "never write into an image folder"
    )
    rows = read_csv(written)
    assert len(rows) == len(list((examples["images"] / "three").iterdir())) and rows[0]["example"].endswith(".png")
    assert sum(r["prediction"] == "three" for r in rows) > len(rows) / 2


def test_image_standardization_is_fitted_on_train_images_alone(examples, make_cfg):
    dm = build_datamodule(
        make_cfg("data=image_folder", f"data.path={examples['images']}", "data.image_size=[8,8]", "data.num_workers=0")
    )
    source = ImageFolderSource(examples["images"], channels=1, image_size=[8, 8])
    source.load()
    train_index = torch.cat([b[2] for b in dm.loader("train")])
    pixels = torch.stack([source.read(int(i)) for i in train_index])
    assert torch.allclose(dm.standardizer.mean.reshape(-1), pixels.mean().reshape(-1).float(), atol=1e-5)
    assert torch.allclose(dm.standardizer.std.reshape(-1), pixels.std().reshape(-1).float(), atol=1e-4)
    everything = torch.stack([source.read(i) for i in range(len(source.paths))])
    assert not torch.allclose(dm.standardizer.mean.reshape(-1), everything.mean().reshape(-1).float(), atol=1e-5), (
        "the statistics must not see dev or test images"
    )


def test_augmentation_touches_training_batches_only(examples, tmp_path, monkeypatch):
    from {{cookiecutter.package_name}}.data.augment import Augment

    seen: list[str] = []
    original = Augment.forward

    def spy(self, x):
        trainer = spy.model.trainer
        seen.append("train" if trainer.training else "other")
        return original(self, x)

    from {{cookiecutter.package_name}}.model.task_module import TaskModule

    setup = TaskModule.setup

    def remember(self, stage):
        spy.model = self
        return setup(self, stage)

    monkeypatch.setattr(Augment, "forward", spy)
    monkeypatch.setattr(TaskModule, "setup", remember)
    cfg = compose_run(
        tmp_path, "data=digits", "regularizer=[augment]", "trainer.max_epochs=2", "analysis.error_analysis=false"
    )
    summary = train(cfg)
    steps_per_epoch = -(-1257 // 64)
    assert seen == ["train"] * (2 * steps_per_epoch), "only training batches, every one of them"
    assert summary["scores"]["dev"] is not None


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: None, "no such folder"),
        (
            lambda root: (root / "cat").mkdir(parents=True) or (root / "cat" / ".DS_Store").write_bytes(b"\0\1"),
            r"\.DS_Store",
        ),
        (lambda root: _one_class(root), "one class folder"),
    ],
)
@pytest.mark.slow
def test_bad_image_folders_are_one_line_errors_and_write_nothing(make, message, tmp_path):
    root = tmp_path / "images"
    make(root)
    out = tmp_path / "run"
    done = run_cli("train.py", "data=image_folder", f"data.path={root}", "logger=none", f"hydra.run.dir={out}")
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and re.search(message, lines[0]), done.stderr
    assert not out.exists()  # a run refused for its config or data leaves no folder behind


def _one_class(root: Path):
    from PIL import Image

    (root / "cat").mkdir(parents=True)
    for i in range(3):
        Image.new("L", (4, 4), color=i * 40).save(root / "cat" / f"{i}.png")


# --------------------------------------------------------------------------- tables
@pytest.fixture(scope="module")
def table_run(examples, tmp_path_factory):
    out = tmp_path_factory.mktemp("table_run")
    cfg = compose_run(out, "+experiment=table_example", f"data.path={examples['table']}", "trainer.max_epochs=8")
    return out, cfg, train(cfg)


def test_table_trains_with_its_class_column_and_row_names(table_run, examples):
    out, cfg, summary = table_run
    assert summary["scores"]["dev"] > 0.6 and summary["test_split_reads"] == 0  # chance is 0.4
    state = json.loads((out / "preprocessing.json").read_text())  # readable, beside the run
    assert state["spec"]["class_names"] == ["bird", "cat", "dog"] and state["spec"]["target_name"] == "animal"
    assert "color=<missing>" in state["spec"]["feature_names"] and "weight_kg_missing" in state["spec"]["feature_names"]
    assert [r["true\\pred"] for r in read_csv(out / "confusion_matrix.csv")] == ["bird", "cat", "dog"]
    worst = read_csv(out / "worst_mistakes.csv")
    raw = read_csv(examples["table"])
    for r in worst[:5]:  # the row name leads back to the file's row, its columns shown as they are there
        row = raw[int(r["example"].split()[-1])]
        assert r["y_true"] == row["animal"] == r["x.animal"] and r["x.color"] in (row["color"], "None")


def test_table_checkpoint_holds_the_preprocessing_as_plain_data(table_run):
    out, cfg, summary = table_run
    ckpt = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)
    source_state = ckpt["FourSplitDataModule"]["source"]
    assert json.dumps(source_state) and source_state == json.loads((out / "preprocessing.json").read_text())["source"]


def test_table_checks_diagnose_evaluate_and_predict_raw_rows(table_run, examples, tmp_path):
    out, cfg, summary = table_run
    results = run_checks(cfg, out_dir=tmp_path / "checks")
    assert all(r.status == "pass" for r in results), [
        (r.id, r.status, r.message) for r in results if r.status != "pass"
    ]
    diagnosis = diagnose_checkpoint(summary["best_checkpoint"], out_dir=str(tmp_path / "diag"))
    assert diagnosis["error_analysis"]["class_names"] == ["bird", "cat", "dog"] and diagnosis["test_split_reads"] == 0
    result = evaluate(
        [summary["best_checkpoint"]], PROJECT, ledger=tmp_path / "ledger.jsonl", out_dir=tmp_path / "eval"
    )
    assert result["scores"]["test"]["n"] > 0

    import pandas as pd

    new = pd.read_csv(examples["table"]).head(6).drop(columns=["animal"])  # raw rows, no target column
    new.loc[0, "weight_kg"] = 1e4  # a ten-tonne cat: far outside anything seen in training
    new.to_csv(tmp_path / "new.csv", index=False)
    prediction = predict_file(summary["best_checkpoint"], str(tmp_path / "new.csv"))
    rows = read_csv(tmp_path / "new.csv.predictions.csv")
    assert [r["example"] for r in rows] == [f"row {i}" for i in range(6)]
    assert {r["prediction"] for r in rows} <= {"bird", "cat", "dog"} and {"p_bird", "p_cat", "p_dog"} <= set(rows[0])
    assert prediction["out_of_range_rows"][:1] == [0]
    new.drop(columns=["height_cm"]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ConfigError, match="height_cm"):
        predict_file(summary["best_checkpoint"], str(tmp_path / "short.csv"))
    assert not (tmp_path / "short.csv.predictions.csv").exists()


def test_table_preprocessing_is_fitted_on_train_rows_alone(tmp_path, make_cfg):
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(size=400), "label": rng.choice(["a", "b"], size=400)})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    dm = build_datamodule(make_cfg("data=table", f"data.path={path}", "data.target=label"))
    train_rows = torch.cat([b[2] for b in dm.loader("train")]).numpy()
    assert dm.standardizer.mean.reshape(-1)[0] == pytest.approx(frame["size"].iloc[train_rows].mean(), abs=1e-5)
    assert dm.standardizer.mean.reshape(-1)[0] != pytest.approx(frame["size"].mean(), abs=1e-5)


BAD_TABLES = {
    "missing file": (None, ["data.path=nope.csv", "data.target=y"], "nope.csv"),
    "empty file": ("", ["data.target=y"], "data.path"),
    "unknown target": ("a,y\n1,0\n2,1\n", ["data.target=label"], "data.target"),
    "unknown feature": ("a,y\n1,0\n2,1\n", ["data.target=y", "data.features=[a,b]"], "data.features"),
    "one-valued target": ("a,y\n" + "".join(f"{i},1\n" for i in range(40)), ["data.target=y"], "single value"),
    "declared numeric is text": (
        "a,y\n" + "".join(f"x{i},{i % 2}\n" for i in range(40)),
        ["data.target=y", "data.numeric=[a]"],
        "data.numeric",
    ),
    "an Excel workbook named .csv": ("PK\x03\x04xl/workbook.xml", ["data.target=y"], "is an Excel workbook"),
    "two rows": ("a,y\n1,x\n2,z\n", ["data.target=y"], "need at least 6 examples"),
    "missing targets, made an error": (
        "a,y\n" + "1,x\n2,\n" * 20,
        ["data.target=y", "data.missing_target=error"],
        "missing in",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_are_one_line_errors_and_write_nothing(case, tmp_path):
    text, overrides, message = BAD_TABLES[case]
    path = tmp_path / "t.csv"
    if text is not None:
        path.write_text(text)
        overrides = [f"data.path={path}", *overrides]
    out = tmp_path / "run"
    done = run_cli(
        str(PROJECT / "train.py"), "data=table", *overrides, "logger=none", f"hydra.run.dir={out}", cwd=tmp_path
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (
        done.stderr[-1500:]
    )
    assert not out.exists()  # a run refused for its config or data leaves no folder behind


def test_a_class_only_dev_has_is_refused(tmp_path, make_cfg):
    from {{cookiecutter.package_name}}.data.datamodule import make_splits, resolve_fractions

    dev = set(make_splits(300, resolve_fractions("auto", 300), seed=0)["dev"].tolist())
    labels = ["only_in_dev" if i == min(dev) else ["a", "b"][i % 2] for i in range(300)]
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
    with pytest.raises(ConfigError, match=r"only_in_dev.*occur in dev but never in train"):
        build_datamodule(make_cfg("data=table", f"data.path={path}", "data.target=y"))
