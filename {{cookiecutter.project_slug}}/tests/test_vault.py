"""The test vault (M5): nothing but evaluate.py reads the test split; every look is recorded.
Also the final model on train + dev (M8) and ensembles (M24)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import PROJECT, run_cli
from hydra import compose, initialize_config_dir

import {{cookiecutter.package_name}}.data.datamodule as data_module
from {{cookiecutter.package_name}}.build import load_run
from {{cookiecutter.package_name}}.checks import main as run_check_command
from {{cookiecutter.package_name}}.common import ConfigError
from {{cookiecutter.package_name}}.data.datamodule import FourSplitDataModule
from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint
from {{cookiecutter.package_name}}.evaluation.inference import predict
from {{cookiecutter.package_name}}.training.fit import train
from {{cookiecutter.package_name}}.vault.final_evaluation import evaluate
from {{cookiecutter.package_name}}.vault.ledger import read_ledger


class WatchedIndices(dict):
    """The split index dict, recording every split whose examples anyone looks up."""

    seen: list[str] = []

    def __getitem__(self, key):
        WatchedIndices.seen.append(key)
        return super().__getitem__(key)


@pytest.fixture(scope="module")
def watch_test_split():
    """Instrument the data module: every split lookup through the interface (loader, sample,
    targets, fingerprints) and every index lookup is recorded, so a path that reaches past
    the interface for test examples is caught too."""
    mp = pytest.MonkeyPatch()
    original_make, original_split = data_module.make_splits, FourSplitDataModule._index
    calls: list[str] = []

    def make_splits(*args, **kwargs):
        return WatchedIndices(original_make(*args, **kwargs))

    def split(self, name):
        calls.append(name)
        return original_split(self, name)

    mp.setattr(data_module, "make_splits", make_splits)
    mp.setattr(FourSplitDataModule, "_index", split)

    def test_reads():
        return calls.count("test") + WatchedIndices.seen.count("test")

    def reset():
        calls.clear()
        WatchedIndices.seen.clear()

    yield test_reads, reset
    mp.undo()


@pytest.fixture(scope="module")
def run(tmp_path_factory, watch_test_split):
    """One short training run, made under the instrumented data module."""
    test_reads, reset = watch_test_split
    reset()
    out = tmp_path_factory.mktemp("vault_run")
    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.output_dir={out}",
                "logger=none",
                "trainer.enable_progress_bar=false",
                "trainer.max_epochs=3",
                "checks.before_train=fast",
            ],
        )
    # train.py writes its resolved config here; load_run needs it beside the checkpoints
    (out / ".hydra").mkdir()
    from omegaconf import OmegaConf

    (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    summary = train(cfg)
    return {"summary": summary, "dir": out, "cfg": cfg, "test_reads_during_training": test_reads()}


@pytest.mark.slow
def test_training_checks_and_diagnosis_never_read_test(run, watch_test_split, tmp_path, capsys):
    test_reads, reset = watch_test_split
    assert run["test_reads_during_training"] == 0
    assert run["summary"]["test_split_reads"] == 0
    reset()
    result = diagnose_checkpoint(run["summary"]["best_checkpoint"], str(tmp_path / "diag"))
    assert "train" in WatchedIndices.seen and "dev" in WatchedIndices.seen  # the watch sees reads ...
    assert test_reads() == 0 and result["test_split_reads"] == 0  # ... and none of test
    capsys.readouterr()
    code = run_check_command(run["cfg"])  # check.py's whole suite
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "the check crashed" not in out, err[-2000:]  # a crash is exit 1 too
    assert code == 0, out[-3000:]  # the default config passes every check
    assert test_reads() == 0


def test_evaluate_is_the_door_and_keeps_a_ledger(run, watch_test_split, tmp_path, capsys):
    test_reads, reset = watch_test_split
    ledger = tmp_path / "ledger.jsonl"
    best = run["summary"]["best_checkpoint"]
    reset()
    first = evaluate([best], PROJECT, ledger=ledger, out_dir=tmp_path / "eval1")
    assert test_reads() > 0 and first["test_reads"] == 1
    out = capsys.readouterr().out
    assert "seen" not in out and "TEST accuracy" in out
    assert set(first["gaps"]) == {"avoidable_bias", "variance", "data_mismatch", "dev_overfitting"}
    assert first["gaps"]["dev_overfitting"] == pytest.approx(first["errors"]["test"] - first["errors"]["dev"])

    # the same output folder again, from a project that holds the checkpoint (run dir as project root)
    second = evaluate([best], run["dir"], ledger=ledger, out_dir=tmp_path / "eval1")
    assert "seen 1 time(s) before" in capsys.readouterr().out
    entries = read_ledger(ledger)
    assert len(entries) == 2
    for entry in entries:
        assert set(entry) >= {"time", "checkpoints", "config_hash", "test", "metric", "report"}
    assert entries[0]["checkpoints"] == [str(Path(best).resolve())]  # outside the project: absolute
    assert entries[1]["checkpoints"] == ["checkpoints/best.ckpt"]  # inside it: relative, the ledger is committed
    assert entries[0]["config_hash"] == entries[1]["config_hash"]
    assert entries[1]["times_seen_before"] == 1
    assert second["scores"]["test"]["accuracy"] == first["scores"]["test"]["accuracy"]
    # every look keeps its own report, named by its ledger entry: the second did not overwrite the first
    reports = sorted(p.name for p in (tmp_path / "eval1").glob("final_report*.json"))
    assert reports == ["final_report_1.json", "final_report_2.json"]
    for number, entry in enumerate(entries, 1):
        saved = json.loads(Path(entry["report"]).read_text())
        assert entry["report"].endswith(f"final_report_{number}.json")
        assert saved["ledger_entry"]["time"] == entry["time"] and saved["scores"]["test"]["n"] > 0


def test_ensemble_averages_probabilities(run, tmp_path):
    best, last = run["summary"]["best_checkpoint"], run["summary"]["last_checkpoint"]
    result = evaluate([best, last], PROJECT, ledger=tmp_path / "l.jsonl", out_dir=tmp_path / "ens")
    assert read_ledger(tmp_path / "l.jsonl")[0]["ensemble"] is True
    first, second = load_run(best), load_run(last)
    m1, m2, dm = first.model, second.model, first.datamodule
    x = torch.cat([b[0] for b in dm.loader("dev")])
    with torch.no_grad():
        manual = (m1(x).softmax(-1) + m2(x).softmax(-1)) / 2
    assert torch.allclose(predict([m1, m2], dm.loader("dev")).out.softmax(-1), manual, atol=1e-5)
    assert 0 <= result["scores"]["test"]["accuracy"] <= 1


def test_retrain_on_train_and_dev_then_evaluate(run, tmp_path):
    result = evaluate(
        [run["summary"]["best_checkpoint"]],
        PROJECT,
        ledger=tmp_path / "l.jsonl",
        retrain=True,
        out_dir=tmp_path / "final",
    )
    final = tmp_path / "final" / "retrained_1" / "checkpoints" / "final.ckpt"
    assert final.is_file()
    entry = read_ledger(tmp_path / "l.jsonl")[0]
    assert entry["retrained_on_train_and_dev"] is True and entry["checkpoints"] == [str(final)]
    assert entry["report"] == str(tmp_path / "final" / "final_report_1.json")
    assert "dev" not in result["scores"] and "dev_overfitting" not in result["gaps"]
    dm = load_run(final).datamodule
    n_train = dm.size("train") + dm.size("dev")
    history = json.loads((tmp_path / "final" / "retrained_1" / "history.json").read_text())
    selected_epoch = torch.load(run["summary"]["best_checkpoint"], weights_only=True)["epoch"]
    assert len(history) == selected_epoch + 1  # as many epochs as the selected checkpoint had
    # its standardization was fitted on train + dev, not on train alone
    assert dm.standardizer.input_range["min"].shape == dm.spec.input_shape
    assert n_train > dm.size("train")

    # a second retrain=true into the same folder keeps the first model and report the ledger points to
    first_report = (tmp_path / "final" / "final_report_1.json").read_text()
    evaluate(
        [run["summary"]["best_checkpoint"]],
        PROJECT,
        ledger=tmp_path / "l.jsonl",
        retrain=True,
        out_dir=tmp_path / "final",
    )
    second = read_ledger(tmp_path / "l.jsonl")[1]
    assert second["checkpoints"] == [str(tmp_path / "final" / "retrained_2" / "checkpoints" / "final.ckpt")]
    assert final.is_file() and (tmp_path / "final" / "final_report_1.json").read_text() == first_report
    assert Path(second["report"]).name == "final_report_2.json"


@pytest.mark.slow
def test_bad_checkpoint_is_one_line_and_records_nothing(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate([str(tmp_path / "missing.ckpt")], PROJECT, ledger=ledger)
    assert not ledger.exists()
    result = run_cli("evaluate.py", f"ckpt_path={tmp_path / 'missing.ckpt'}", f"ledger={ledger}")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
    assert not ledger.exists()


@pytest.mark.slow
def test_directory_as_checkpoint_says_so(run):
    result = run_cli("diagnose.py", f"ckpt_path={run['dir']}")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "is a directory" in result.stderr and "does not exist" not in result.stderr
    assert "checkpoints/best.ckpt" in result.stderr  # the .ckpt files it holds, to pick one
