"""Nothing lost, nothing silently wrong: run folders, resume, non-finite losses, provenance,
stable latency, and bad inputs that get one line (exit 2) instead of a wrong result."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PROJECT, run_cli

from {{cookiecutter.package_name}}.common import ConfigError, TrainingFailed
from {{cookiecutter.package_name}}.evaluation.objective import measure_latency_ms
from {{cookiecutter.package_name}}.training.fit import train
from {{cookiecutter.package_name}}.user.sources import load_digits

QUICK = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "checks.before_train=false",
    "analysis.error_analysis=false",
]


def digest(folder: Path) -> dict[str, str]:
    """Every file under a folder and a hash of its bytes: what 'nothing touched' means."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_line_error(done: subprocess.CompletedProcess, code: int = 2) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code and len(lines) == 1 and lines[0].startswith("error:"), done.stderr[-2000:]
    return lines[0]


# --------------------------------------------------------------------------- run folders
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "first"
    done = run_cli("train.py", *QUICK, "logger=csv", f"hydra.run.dir={out}")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_a_run_never_writes_into_an_existing_run_folder(finished_run):
    before = digest(finished_run)
    for script in ("train.py", "check.py"):  # only training can resume it
        line = one_line_error(run_cli(script, *QUICK, f"hydra.run.dir={finished_run}"))
        assert "holds an earlier run" in line and ("ckpt_path=" in line) == (script == "train.py"), line
    assert digest(finished_run) == before, "the earlier run's files must stay as they were"


@pytest.mark.slow
def test_two_runs_started_in_the_same_second_keep_separate_folders(tmp_path):
    env_cmd = [sys.executable, str(PROJECT / "train.py"), *QUICK, "logger=none", "trainer.max_epochs=1"]
    env = {**__import__("os").environ, "PYTHONPATH": str(PROJECT / "src")}
    procs = [
        subprocess.Popen(env_cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    runs = sorted(p.parent for p in (tmp_path / "outputs").rglob("summary.json"))
    assert len(runs) == 2 and runs[0] != runs[1]


# --------------------------------------------------------------------------- resume
@pytest.mark.slow
def test_a_failed_resume_touches_nothing(finished_run, tmp_path):
    before = digest(finished_run)
    last = finished_run / "checkpoints" / "last.ckpt"
    another_model = one_line_error(run_cli("train.py", *QUICK, "model=cnn", f"ckpt_path={last}"))
    assert "different model" in another_model
    other_config = one_line_error(run_cli("train.py", *QUICK, "optimizer.lr=0.5", f"ckpt_path={last}"))
    assert "optimizer.lr=0.5" in other_config and "the run had 0.001" in other_config
    weights_only = one_line_error(
        run_cli("train.py", *QUICK, f"ckpt_path={finished_run / 'checkpoints' / 'best.ckpt'}")
    )
    assert "weights only" in weights_only and "last.ckpt" in weights_only
    truncated = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(last.read_bytes()[:2000])
    assert "not a readable checkpoint" in one_line_error(run_cli("train.py", *QUICK, f"ckpt_path={truncated}"))
    assert digest(finished_run) == before


@pytest.mark.slow
def test_a_resumed_run_keeps_its_earlier_epochs_in_metrics_csv(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train.py", *QUICK, "logger=csv", f"hydra.run.dir={out}").returncode == 0
    done = run_cli(
        str(PROJECT / "train.py"),
        *QUICK,
        "logger=csv",
        "trainer.max_epochs=4",
        f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}",
        cwd=tmp_path,
    )  # its own new folder: in tmp_path
    assert done.returncode == 0, done.stderr[-2000:]
    with (out / "csv" / "metrics.csv").open(newline="") as f:
        epochs = sorted({int(float(r["epoch"])) for r in csv.DictReader(f) if r.get("epoch")})
    assert epochs == [0, 1, 2, 3], "the resumed run's log reads as one run of four epochs"


@pytest.mark.slow
def test_a_resumed_run_continues_its_tensorboard_and_wandb_history(tmp_path):
    """TensorBoard: one series per tag over all four epochs, each step once, also when the run
    resumes from a checkpoint older than its last events (those are purged). W&B (offline):
    every part of the run logs to the same run id."""
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, env, loggers = (
        tmp_path / "run",
        {"WANDB_MODE": "offline", "WANDB_SILENT": "true"},
        "logger=[tensorboard,wandb]",
    )
    first = run_cli("train.py", *QUICK, loggers, f"hydra.run.dir={out}", env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    shutil.copy(out / "checkpoints" / "last.ckpt", out / "checkpoints" / "epoch_2.ckpt")
    for epochs, start in ((3, "last.ckpt"), (4, "epoch_2.ckpt")):  # the second resume goes back past epoch 3's events
        done = run_cli(
            str(PROJECT / "train.py"),
            *QUICK,
            loggers,
            f"trainer.max_epochs={epochs}",
            f"ckpt_path={out / 'checkpoints' / start}",
            cwd=tmp_path,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("dev/loss")]
    assert len(steps) == 4 and steps == sorted(set(steps)), f"one dev/loss per epoch, in order: {steps}"
    assert sorted({int(e.value) for e in events.Scalars("epoch")}) == [0, 1, 2, 3]
    runs = sorted(p.name for p in (out / "wandb").glob("offline-run-*"))
    assert len(runs) == 3 and len({name.rsplit("-", 1)[1] for name in runs}) == 1, (
        f"one wandb run id throughout: {runs}"
    )


# --------------------------------------------------------------------------- silently wrong, no more
def digits_with_nan():
    d = load_digits()
    d["x"][::7, 0, 3, 3] = np.nan
    return d


def test_a_non_finite_loss_stops_the_run_naming_the_step(make_cfg, tmp_path, capsys):
    cfg = make_cfg(*QUICK, f"data.source._target_={__name__}.digits_with_nan", output_dir=tmp_path)
    with pytest.raises(TrainingFailed, match=r"training loss became nan at step 0 \(epoch 0, batch 0\)"):
        train(cfg)
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists() and not (tmp_path / "summary.json").exists()
    from {{cookiecutter.package_name}}.cli import exit_on_config_error

    with pytest.raises(SystemExit) as stopped, exit_on_config_error():  # what train.py wraps the run in
        train(make_cfg(*QUICK, f"data.source._target_={__name__}.digits_with_nan", output_dir=tmp_path / "again"))
    assert stopped.value.code == 1 and "python check.py" in capsys.readouterr().err


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_epochs=0", "trains nothing"),
        ("objective.human_error=5", r"human_error=5.*fraction"),
        ("objective.target=high", r"objective.target='high' is not a number"),
        ("objective.satisficing=banana", r"'banana' is not 'name op number'"),
        ("objective.satisficing=['dev/auroc >= 0.9']", r"'dev/auroc' is never measured for task multiclass"),
        ("data.batch_size=0", r"data.batch_size=0 must be a positive number"),
        ("data.batch_size=-4", r"data.batch_size=-4 must be a positive number"),
        ("optimizer.lr=abc", r"optimizer.lr='abc' is not a number; e.g. optimizer.lr=1e-3"),
        ("data.batch_size=2.5", r"data.batch_size=2.5 is not a whole number"),
        ("seed=abc", r"seed='abc' is not a whole number"),
    ],
)
def test_values_that_would_give_a_wrong_result_are_one_line_errors(make_cfg, override, message):
    with pytest.raises(ConfigError, match=message):
        train(make_cfg(*QUICK, override))


@pytest.mark.parametrize(
    "script, override, says",
    [
        (
            "train.py",
            "optimizer=nope",
            "Could not find 'optimizer/nope'; available options in 'optimizer': adam, adamw",
        ),
        (
            "train.py",
            "trainer.max_epoch=3",
            "Could not override 'trainer.max_epoch'; To append to your config use +trainer.max_epoch=3",
        ),
        ("train.py", "trainer.max_epochs=[1", "cannot parse the override 'trainer.max_epochs=[1'"),
        ("check.py", "+experiment=nope", "Could not find 'experiment/nope'; available options in 'experiment': "),
    ],
)
def test_an_override_hydra_cannot_compose_is_one_line_and_makes_no_folder(tmp_path, script, override, says):
    assert says in one_line_error(run_cli(str(PROJECT / script), override, cwd=tmp_path))
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.slow
def test_a_run_refused_for_a_value_leaves_no_folder(tmp_path):
    assert one_line_error(run_cli(str(PROJECT / "train.py"), "optimizer.lr=abc", cwd=tmp_path)).endswith(
        "e.g. optimizer.lr=1e-3"
    )
    assert not list(tmp_path.rglob(".hydra")), "the folder Hydra made for the refused run is gone"


# --------------------------------------------------------------------------- provenance and latency
def test_every_run_folder_says_how_it_was_made(finished_run):
    info = json.loads((finished_run / "run_info.json").read_text())
    assert info["torch_build"] in ("CPU",) or info["torch_build"].startswith("CUDA")
    assert info["accelerator"] and info["strategy"] and info["precision"] and "command" in info
    resolved = (finished_run / "resolved_config.yaml").read_text()
    assert "${" not in resolved and str(finished_run) in resolved
    environment = (finished_run / "environment.txt").read_text().splitlines()
    assert any(line.startswith("torch==") for line in environment) and any(
        line.lower().startswith("lightning==") for line in environment
    )


def test_latency_is_measured_on_one_thread_with_its_spread():
    threads = torch.get_num_threads()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    measured = measure_latency_ms(net, torch.zeros(1, 1, 8, 8))
    assert measured["latency_ms"] > 0 and 0 <= measured["latency_ms_spread"] < 10 * measured["latency_ms"] + 1
    assert torch.get_num_threads() == threads, "the caller's thread setting is restored"
    assert net.training, "the caller's train/eval mode is restored"


def test_debug_overfit_fits_the_same_batch_every_epoch(make_cfg, tmp_path, monkeypatch):
    from {{cookiecutter.package_name}}.model.task_module import TaskModule

    seen: list[list[int]] = []
    step = TaskModule.training_step

    def spy(self, batch, batch_idx):
        seen.append(batch[2].tolist())
        return step(self, batch, batch_idx)

    monkeypatch.setattr(TaskModule, "training_step", spy)
    train(
        make_cfg(
            "debug=overfit",
            "trainer.max_epochs=4",
            "checks.before_train=false",
            "analysis.error_analysis=false",
            output_dir=tmp_path,
        )
    )
    assert len(seen) == 4 and all(s == seen[0] for s in seen), "one batch, the same one, every epoch"
