"""No password, key or token that reaches the project is written by it into a run or sweep
folder, a checkpoint or a logger's files. A study storage URL with a password is read from the
environment (hydra.sweeper.storage='${oc.env:SWEEP_STORAGE}'), so Hydra saves the reference,
never the password; written into the URL itself it is refused before anything is written. Every
storage URL form whose driver is missing is one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import PROJECT, run_cli
from test_sweeps import TINY

SECRET_URL = os.environ.get(
    "SWEEP_TEST_SECRET_POSTGRES", "postgresql://recipe_secret:planted-secret-4b1d9@127.0.0.1:5432/recipe_secrets"
)
PLANTED = {  # what a team's shell holds while it sweeps: none of it may land on disk
    "WANDB_API_KEY": "planted-wandb-key-77e0c2",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-secret-93b1aa",
    "MLFLOW_TRACKING_PASSWORD": "planted-mlflow-pw-5d2e61",
}


def sweep(cwd, *overrides, env=None, timeout=300):
    return run_cli(str(PROJECT / "train.py"), "-m", "sweep=random", "hydra.sweeper.n_trials=1", *TINY, *overrides,
                   cwd=cwd, env=env, timeout=timeout)  # fmt: skip


def test_a_storage_url_with_its_password_written_in_is_refused_before_anything_is_written(tmp_path):
    done = sweep(tmp_path, "hydra.sweeper.storage=postgresql://recipe:hunter2@127.0.0.1:5432/sweeps")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert "hydra.sweeper.storage holds a password" in lines[0] and "${oc.env:SWEEP_STORAGE}" in lines[0]
    assert "hunter2" not in done.stdout + done.stderr
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.parametrize("url", ["postgresql+psycopg2://u@127.0.0.1:1/db", "mysql+pymysql://u@127.0.0.1:1/db"])
def test_a_storage_url_whose_driver_is_missing_is_one_line(tmp_path, url):
    driver = url.partition("+")[2].partition(":")[0]
    if driver in sys.modules or __import__("importlib").util.find_spec(driver):
        pytest.skip(f"{driver} is installed here")
    done = sweep(tmp_path, "hydra.sweeper.storage=${oc.env:SWEEP_STORAGE}", env={"SWEEP_STORAGE": url})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert f"needs the {driver} driver, which is not installed: pip install" in lines[0]


def test_a_command_line_url_keeps_its_password_out_of_run_info():
    from {{cookiecutter.package_name}}.training.fit import hide_passwords

    shown = hide_passwords(
        "train.py -m hydra.sweeper.storage=postgresql+psycopg://recipe:S3=cr@host:5432/db data.dir=s3://b/x"
    )
    assert shown == "train.py -m hydra.sweeper.storage=postgresql+psycopg://recipe:***@host:5432/db data.dir=s3://b/x"


@pytest.mark.slow
def test_a_sweep_on_a_password_protected_storage_writes_no_secret_anywhere(tmp_path):
    from test_sweeps import postgres_or_skip

    postgres_or_skip()  # the server tests/services.sh starts (it also makes the recipe_secret role)
    try:
        import psycopg

        psycopg.connect(SECRET_URL, connect_timeout=3).close()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"the recipe_secret role of tests/services.sh is missing ({type(e).__name__}: {e})")
    secrets = {"SWEEP_STORAGE": SECRET_URL, **PLANTED}
    done = sweep(tmp_path, "hydra.sweeper.storage=${oc.env:SWEEP_STORAGE}", "logger=wandb",
                 "hydra.sweep.dir=sweep", env=secrets)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    files = [p for p in (tmp_path / "sweep").rglob("*") if p.is_file()]
    assert any(p.name == "multirun.yaml" for p in files) and any(p.suffix == ".ckpt" for p in files)
    assert any("wandb" in p.parts for p in files), "the W&B logger wrote its offline run"
    planted = [PLANTED[k].encode() for k in PLANTED] + [b"planted-secret-4b1d9"]
    leaks = [(str(p.relative_to(tmp_path)), s.decode()) for p in files for s in planted if s in p.read_bytes()]
    assert not leaks, leaks
    assert "planted" not in done.stdout + done.stderr
    subprocess.run([sys.executable, "-c", "import optuna; [optuna.delete_study(study_name=s.study_name, storage=u) "
                    "for u in [__import__('sys').argv[1]] for s in optuna.get_all_study_summaries(u)]", SECRET_URL],
                   capture_output=True, timeout=60)  # fmt: skip
