"""Error analysis (M33), activation/gradient monitoring (M34), prediction with extrapolation
warnings (M35), and pictures reaching the logger."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import compose_train, run_cli

from {{cookiecutter.package_name}}.build import load_run
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.evaluation.analysis import image_grid, save_figure
from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint
from {{cookiecutter.package_name}}.evaluation.new_inputs import predict_file
from {{cookiecutter.package_name}}.training.callbacks.monitoring import dead_fraction
from {{cookiecutter.package_name}}.training.fit import train


def compose_run(out, *overrides):
    return compose_train(out, "checks.before_train=false", *overrides)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """Digits, 3 epochs, monitoring on every 5 steps, CSV logger."""
    out = tmp_path_factory.mktemp("digits_run")
    cfg = compose_run(
        out,
        "trainer.max_epochs=3",
        "callbacks=monitoring",
        "callbacks.monitoring.every_n_steps=5",
        "logger=csv",
        "analysis.worst_k=12",
    )
    return out, train(cfg)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_confusion_matrix_and_per_class_metrics(digits_run):
    out, summary = digits_run
    rows = read_csv(out / "confusion_matrix.csv")
    matrix = np.array([[int(r[str(j)]) for j in range(10)] for r in rows])
    per_class = read_csv(out / "per_class_metrics.csv")
    n_dev = matrix.sum()
    assert matrix.shape == (10, 10) and n_dev == sum(int(r["support"]) for r in per_class)
    assert np.trace(matrix) / n_dev == pytest.approx(summary["scores"]["dev"], abs=1e-5)
    for c, r in enumerate(per_class):
        recall = matrix[c, c] / matrix[c].sum()
        precision = matrix[c, c] / matrix[:, c].sum() if matrix[:, c].sum() else 0.0
        assert float(r["recall"]) == pytest.approx(recall, abs=1e-4)
        assert float(r["precision"]) == pytest.approx(precision, abs=1e-4)
    assert (out / "confusion_matrix.png").stat().st_size > 10_000


def test_worst_mistakes_are_exported_for_tagging(digits_run):
    out, _ = digits_run
    wrong, right = read_csv(out / "worst_mistakes.csv"), read_csv(out / "correct_examples.csv")
    assert wrong, "3 epochs leave some dev mistakes to look at"
    assert all(r["y_true"] != r["y_pred"] for r in wrong) and all(r["y_true"] == r["y_pred"] for r in right)
    losses = [float(r["loss"]) for r in wrong]
    assert losses == sorted(losses, reverse=True)  # worst first
    assert all(r["mislabeled"] == "" and r["note"] == "" for r in wrong)  # for the person tagging them
    assert len(wrong) + len(right) == 180
    assert len({r["index"] for r in wrong + right}) == 180  # dataset indices, to find each example
    assert (out / "worst_mistakes.png").stat().st_size > 10_000  # digits are images: a grid
    assert (out / "correct_examples.png").is_file()


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_rerunning_diagnosis_keeps_hand_written_tags(digits_run, tmp_path, capsys):
    _, summary = digits_run
    diag = tmp_path / "diag"
    diagnose_checkpoint(summary["best_checkpoint"], str(diag), worst_k=2)
    wrong, right = read_csv(diag / "worst_mistakes.csv"), read_csv(diag / "correct_examples.csv")
    assert len(wrong) >= 3
    tagged = {
        wrong[0]["index"]: ("yes", "a 7, not a 1"),
        wrong[2]["index"]: ("", "blurry scan"),
        right[0]["index"]: ("yes", "right for the wrong label"),
    }
    for r in wrong + right:
        r["mislabeled"], r["note"] = tagged.get(r["index"], ("", ""))
    # the person sorted the sheet (rows move) and tagged an example the dev split does not hold
    write_rows(diag / "worst_mistakes.csv", [*reversed(wrong), {**wrong[1], "index": "999999", "note": "gone"}])
    write_rows(diag / "correct_examples.csv", right)
    capsys.readouterr()

    diagnose_checkpoint(summary["best_checkpoint"], str(diag), worst_k=2)
    out = capsys.readouterr().out
    again = read_csv(diag / "worst_mistakes.csv") + read_csv(diag / "correct_examples.csv")
    assert {r["index"]: (r["mislabeled"], r["note"]) for r in again if r["mislabeled"] or r["note"]} == tagged
    assert [r["index"] for r in read_csv(diag / "worst_mistakes.csv")] == [r["index"] for r in wrong]  # fresh order
    lines = [line for line in out.splitlines() if "hand-written tag" in line]
    assert len(lines) == 1 and "kept 3" in lines[0] and "1 tag(s) are on examples no longer listed" in lines[0]
    # the tag that has no row left is not lost: the previous file is kept beside the new one
    (kept,) = diag.glob("worst_mistakes.before-*.csv")
    assert any(r["index"] == "999999" and r["note"] == "gone" for r in read_csv(kept))


def test_mistake_grid_is_sized_to_its_pictures(tmp_path):
    import matplotlib.image

    sizes = {}
    for n in (1, 12):
        fig = image_grid(
            torch.rand(n, 1, 8, 8), [f"#{i} true 1 → pred 7" for i in range(n)], f"Worst {n} of {n} dev mistakes"
        )
        height, width = matplotlib.image.imread(save_figure(fig, tmp_path / f"grid{n}.png")).shape[:2]
        sizes[n] = (width, height)
    assert sizes[1][0] <= 1.3 * sizes[1][1], sizes  # one picture: about square, not a wide empty strip
    assert sizes[12][0] > 2 * sizes[1][0]  # twelve: six columns wide


def test_tabular_and_regression_get_tables_and_plots(tmp_path):
    out = tmp_path / "bc"
    train(compose_run(out, "data=breast_cancer", "trainer.max_epochs=2"))
    rows = read_csv(out / "worst_mistakes.csv") + read_csv(out / "correct_examples.csv")
    # each example by name, its features by name in raw units, its classes by name
    assert {"example", "x.mean radius", "x.worst fractal dimension", "mislabeled"} <= set(rows[0])
    assert {r["y_true"] for r in rows} == {"malignant", "benign"}
    assert not (out / "worst_mistakes.png").exists()
    out = tmp_path / "diabetes"
    train(compose_run(out, "+experiment=regression_diabetes", "trainer.max_epochs=2"))
    rows = read_csv(out / "worst_mistakes.csv")
    errors = [float(r["abs_error"]) for r in rows]
    assert errors == sorted(errors, reverse=True) and "mislabeled" in rows[0]
    assert (out / "predicted_vs_true.png").is_file() and not (out / "confusion_matrix.png").exists()


def test_monitoring_logs_gradients_and_dead_units(digits_run):
    out, _ = digits_run
    assert (out / "monitoring.png").stat().st_size > 10_000
    logged = read_csv(out / "csv" / "metrics.csv")
    norms = [float(r["monitor/grad_norm/total"]) for r in logged if r.get("monitor/grad_norm/total")]
    steps_per_epoch = 20
    assert len(norms) == -(-3 * steps_per_epoch // 5)  # every 5th of 60 steps, not every step
    assert all(n > 0 for n in norms)
    assert any(k.startswith("monitor/dead_relu/") for k in logged[0])


def test_dead_fraction():
    act = torch.relu(torch.tensor([[1.0, -1.0, 0.5], [2.0, -3.0, -1.0]]))
    assert dead_fraction(act) == pytest.approx(1 / 3)  # unit 1 is 0 for the whole batch
    conv = torch.zeros(4, 2, 3, 3)
    conv[0, 1, 0, 0] = 1.0
    assert dead_fraction(conv) == pytest.approx(0.5)  # channel 0 never fires


def test_predict_flags_extrapolation(digits_run, tmp_path, capsys):
    out, summary = digits_run
    run = load_run(summary["best_checkpoint"])
    model, dm = run.model, run.datamodule
    x_dev, y_dev, _ = next(iter(dm.loader("dev")))
    raw = dm.standardizer.inverse(x_dev[:5]).numpy()
    raw[3] = raw[3] * 4 + 20  # far brighter than any training digit
    np.save(tmp_path / "new.npy", raw.reshape(5, 8, 8))  # [N, 8, 8] is accepted for [N, 1, 8, 8]
    result = predict_file(summary["best_checkpoint"], str(tmp_path / "new.npy"))
    assert result["out_of_range_rows"] == [3]
    assert "outside the training range" in capsys.readouterr().out
    rows = read_csv(tmp_path / "new.npy.predictions.csv")
    expected = model.task.predict(model(x_dev[:5])).tolist()
    assert [int(r["prediction"]) for r in rows[:3]] == expected[:3]  # same standardization as training
    assert [r["out_of_range"] for r in rows] == ["False", "False", "False", "True", "False"]


@pytest.mark.slow
def test_predict_bad_input_is_one_line_and_writes_nothing(digits_run, tmp_path):
    _, summary = digits_run
    np.save(tmp_path / "wrong.npy", np.zeros((2, 7), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"shape \[2, 7\].*\[1, 8, 8\]"):
        predict_file(summary["best_checkpoint"], str(tmp_path / "wrong.npy"))
    assert not (tmp_path / "wrong.npy.predictions.csv").exists()
    result = run_cli("predict.py", f"ckpt_path={summary['best_checkpoint']}", f"input={tmp_path / 'absent.csv'}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "does not exist" in result.stderr


@pytest.mark.slow
def test_predict_never_overwrites(digits_run, tmp_path):
    _, summary = digits_run
    ckpt = summary["best_checkpoint"]
    raw = np.random.default_rng(0).uniform(0, 16, (3, 64)).astype(np.float32)
    np.save(tmp_path / "new.npy", raw)
    np.savetxt(tmp_path / "new.csv", raw, delimiter=",")
    # new.npy and new.csv each get their own default output, named after the whole input name
    assert predict_file(ckpt, str(tmp_path / "new.npy"))["output"] == str(tmp_path / "new.npy.predictions.csv")
    assert predict_file(ckpt, str(tmp_path / "new.csv"))["output"] == str(tmp_path / "new.csv.predictions.csv")
    assert read_csv(tmp_path / "new.npy.predictions.csv") == read_csv(tmp_path / "new.csv.predictions.csv")

    before = (tmp_path / "new.npy.predictions.csv").read_text()
    with pytest.raises(ConfigError, match=r"new\.npy\.predictions\.csv already exists.*overwrite=true.*output="):
        predict_file(ckpt, str(tmp_path / "new.npy"))
    assert (tmp_path / "new.npy.predictions.csv").read_text() == before
    predict_file(ckpt, str(tmp_path / "new.npy"), overwrite=True)  # asked for: replaced

    readme = tmp_path / "README.md"
    readme.write_text("# my notes\n")
    result = run_cli("predict.py", f"ckpt_path={ckpt}", f"input={tmp_path / 'new.npy'}", f"output={readme}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert str(readme) in result.stderr and "overwrite=true" in result.stderr
    assert readme.read_text() == "# my notes\n"


def test_pictures_reach_tensorboard(tmp_path):
    import matplotlib
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logger = TensorBoardLogger(str(tmp_path), name="tb", version="")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "pic.png", [logger], "diagnosis/test_picture")
    logger.experiment.flush()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert "diagnosis/test_picture" in events.Tags()["images"]
    assert (tmp_path / "pic.png").is_file()
