"""One command-line style for every script: Hydra's key=value overrides, `--help` that prints
the usage without importing torch, and the same exit codes (0 ok, 1 a check failed, 2 a usage
or config error in one line). The tool scripts write nothing of Hydra's (no run folder, no
.hydra/, no log file) into the folder they run in."""

from __future__ import annotations

import pytest
from conftest import CONFIG_DIR, PROJECT, run_cli, run_script
from hydra import compose, initialize_config_dir

TOOLS = [
    "diagnose.py",
    "evaluate.py",
    "predict.py",
    "make_examples.py",
    "sweep_report.py",
    "refine_sweep.py",
    "cv_summary.py",
]
SCRIPTS = ["train.py", "check.py", "prepare_data.py", *TOOLS]
HEAVY = {"torch", "lightning", "pytorch_lightning", "torchmetrics", "wandb"}


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_answers_help_with_its_usage_and_without_torch(tmp_path, script):
    done = run_cli("-X", "importtime", str(PROJECT / script), "--help", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"python {script}" in done.stdout  # the docstring's usage lines
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "hydra" in imported, "importtime output was not parsed"
    assert not imported & HEAVY
    if script in TOOLS:
        assert "== Keys (key=value; ??? is required) ==" in done.stdout  # the keys and their defaults
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unknown_key_is_one_line_exit_2_and_writes_nothing(tmp_path, script):
    done = run_cli(str(PROJECT / script), "no_such_key=1", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "Could not override 'no_such_key'" in one_line_error(done)
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.parametrize("script", TOOLS)
def test_a_value_hydra_cannot_parse_is_one_line_exit_2_and_writes_nothing(tmp_path, script):
    done = run_cli(str(PROJECT / script), "out_dir=[1", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "cannot parse the override 'out_dir=[1'" in one_line_error(done)
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.parametrize(
    "script, args, says",
    [
        ("diagnose.py", [], "error: ckpt_path is required: python diagnose.py ckpt_path=..."),
        ("evaluate.py", ["retrain=true"], "error: ckpt_path is required: python evaluate.py ckpt_path=..."),
        ("predict.py", [], "error: ckpt_path, input are required: python predict.py ckpt_path=... input=..."),
        ("cv_summary.py", [], "error: dir is required: python cv_summary.py dir=..."),
        ("diagnose.py", ["ckpt_path=x.ckpt", "worst_k=abc"], "error: worst_k='abc' is not a whole number"),
        ("predict.py", ["ckpt_path=x.ckpt", "input=x.npy", "overwrite=yes"], "overwrite='yes' is not true or false"),
        ("refine_sweep.py", ["top=many"], "error: top='many' is not a number"),
        (
            "refine_sweep.py",
            ["sampler=annealing", "storage=sqlite:///nowhere.db"],
            "sampler=annealing is not one of random, grid, qmc, tpe",
        ),
        ("diagnose.py", ["+foo=1"], "error: +foo=1: diagnose.py takes no new keys, only ckpt_path, out_dir, worst_k"),
        ("cv_summary.py", ["dir=no/such/folder"], "error: no/such/folder is not a folder"),
        ("diagnose.py", ["ckpt_path=no/such.ckpt"], "no/such.ckpt does not exist"),
    ],
)
def test_a_missing_or_wrong_value_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, script, args, says):
    monkeypatch.chdir(tmp_path)
    assert run_script(script, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.parametrize(
    "url", ["postgresql://user:pw@host:5432/sweeps", "sqlite:////abs/path.db", "sqlite:///multirun/sweeps.db"]
)
def test_a_storage_url_passes_the_override_grammar_as_it_is(url):
    for config in ("sweep_report", "refine_sweep"):
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            assert compose(config, overrides=[f"storage={url}"]).storage == url


def test_a_storage_url_is_read_and_one_with_a_reserved_character_needs_quotes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_script("sweep_report.py", f"storage=sqlite:///{tmp_path}/none.db", "list=true") == 2
    assert f"no study database at {tmp_path}/none.db" in capsys.readouterr().err
    assert run_script("sweep_report.py", "storage=postgresql://user:p=w@host/sweeps") == 2  # '=' is the grammar's
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot parse the override" in err[0] and "goes in quotes" in err[0], err
    with initialize_config_dir(
        str(CONFIG_DIR), version_base="1.3"
    ):  # the quoted form the message and the docstring show
        assert (
            compose("sweep_report", overrides=['storage="postgresql://user:p=w@host/sweeps?sslmode=require"']).storage
            == "postgresql://user:p=w@host/sweeps?sslmode=require"
        )
    assert not any(tmp_path.iterdir()), "nothing written"


UNREACHABLE = "postgresql://recipe:secret@127.0.0.1:1/sweeps"  # port 1: nothing listens, refused at once


@pytest.mark.parametrize("script", ["sweep_report.py", "refine_sweep.py"])
def test_an_unreachable_study_server_is_one_line_naming_it_without_its_password(script, tmp_path, monkeypatch, capsys):
    pytest.importorskip("psycopg")
    monkeypatch.chdir(tmp_path)
    assert run_script(script, f"storage={UNREACHABLE}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "error: cannot reach the study storage postgresql+psycopg://recipe:***@127.0.0.1:1/sweeps"
    ), err
    assert "secret" not in err[0] and not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_sweep_on_an_unreachable_study_server_is_one_line_and_exit_2(tmp_path):
    pytest.importorskip("psycopg")
    sweep_dir = tmp_path / "mr"
    done = run_cli(str(PROJECT / "train.py"), "-m", "sweep=random", "hydra.sweeper.storage=${oc.env:SWEEP_STORAGE}",
                   f"hydra.sweep.dir={sweep_dir}", "logger=none", cwd=tmp_path, timeout=120,
                   env={"SWEEP_STORAGE": UNREACHABLE})  # fmt: skip  # a password comes from the environment
    assert done.returncode == 2, done.stderr[-2000:]
    assert "cannot reach the study storage" in one_line_error(done) and "secret" not in done.stderr


def test_prepare_data_writes_only_its_out_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # as the docs run it: from the project folder, out=prepared/big
    assert run_script("prepare_data.py", "data=breast_cancer", "out=prepared/big") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"], "no outputs/ run folder, no log file"
    assert (tmp_path / "prepared" / "big" / "spec.json").is_file()


def test_make_examples_writes_once_and_replaces_only_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_script("make_examples.py", "out=ex") == 0
    table = tmp_path / "ex" / "animals.csv"
    assert table.is_file() and any((tmp_path / "ex" / "digit_images").iterdir())
    table.write_text("my edits\n")
    assert run_script("make_examples.py", "out=ex") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "overwrite=true" in err[-1] and table.read_text() == "my edits\n"
    assert run_script("make_examples.py", "out=ex", "overwrite=true") == 0 and table.read_text() != "my edits\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex"], "nothing but what was asked for"


@pytest.mark.parametrize(
    "script, flag, says", [("sweep_report.py", "--list", "list=..."), ("refine_sweep.py", "--n-trials", "n_trials=...")]
)
def test_an_old_style_flag_is_one_line_that_names_the_key(tmp_path, monkeypatch, capsys, script, flag, says):
    monkeypatch.chdir(tmp_path)
    assert run_script(script, flag, "5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"unknown option {flag}" in err[0] and says in err[0], err


def test_the_package_has_no_hand_made_argument_parser():
    entry = (PROJECT / "src" / "{{cookiecutter.package_name}}" / "cli.py").read_text()  # Hydra's entry, not a parser
    assert "import argparse" not in entry and "ArgumentParser" not in entry
    for script in SCRIPTS:
        text = (PROJECT / script).read_text()
        assert "@hydra.main(" in text and "argparse" not in text and "sys.argv" not in text.split("if __name__")[0], (
            script
        )
