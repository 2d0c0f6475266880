"""Fault injection: a fit killed (SIGKILL) or stopped (SIGTERM, SIGUSR1) at seeded random
steps, then resumed from last.ckpt, ends exactly where an uninterrupted fit ends (weights,
learning curves, scores), and no file of the earlier run is lost on the way. Also a SLURM
job preempted with SIGUSR1: it requeues itself and, started again, resumes by itself."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import PROJECT

EPOCHS, STEPS_PER_EPOCH = 3, 20  # digits train split: 1257 examples in batches of 64
RUN = [
    "trainer.max_epochs=3",
    "logger=csv",
    "checks.before_train=false",
    "analysis.error_analysis=false",
    "regularizer=[dropout]",
    "callbacks.last_checkpoint.every_s=0",
    "trainer.enable_progress_bar=false",
]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(PROJECT / "tests")]),
    "WANDB_MODE": "offline",
}


def train(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT / "train.py"), *RUN, *args],
        cwd=cwd,
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def outcome(run: Path) -> dict:
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    return {
        "epoch": last["epoch"],
        "weights": last["state_dict"],
        "history": json.loads((run / "history.json").read_text()),
        "scores": json.loads((run / "summary.json").read_text())["all_scores"],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight")
    done = train(f"hydra.run.dir={folder / 'run'}", cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return outcome(folder / "run")


# Seeded random points after the first epoch (so a last.ckpt exists to resume from), one per fault.
_draw = random.Random(0)
FAULTS = [
    (name, _draw.randrange(STEPS_PER_EPOCH + 1, EPOCHS * STEPS_PER_EPOCH - 1))
    for name in ("SIGKILL", "SIGTERM", "SIGUSR1")
]


@pytest.mark.slow
@pytest.mark.parametrize("signal_name, step", FAULTS)
def test_a_stopped_fit_resumes_to_the_uninterrupted_result(uninterrupted, tmp_path, signal_name, step):
    run = tmp_path / "run"
    fault = [
        "+callbacks.fault._target_=fault_points.SignalAtStep",
        f"+callbacks.fault.step={step}",
        f"+callbacks.fault.signal_name={signal_name}",
        f"+callbacks.fault.marker={tmp_path / 'fired'}",
    ]
    stopped = train(*fault, f"hydra.run.dir={run}", cwd=tmp_path)
    if signal_name == "SIGKILL":
        assert stopped.returncode == -9
    else:  # a safe stop: last.ckpt at the end of that very batch, one line saying how to resume, exit 128 + signal
        assert stopped.returncode == 128 + {"SIGTERM": 15, "SIGUSR1": 10}[signal_name], stopped.stderr[-2000:]
        # the signal lands during batch `step`'s end hooks: the run stops after it or the next one
        at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
        note = stopped.stderr.strip().splitlines()[-1]
        assert (
            at in (step, step + 1)
            and note.startswith(f"stopped by {signal_name} after step {at}")
            and "ckpt_path=" in note
        )
    files_before = {p.relative_to(run) for p in run.rglob("*") if p.is_file()}
    resumed = train(*fault, f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", cwd=tmp_path)  # the same command
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert files_before <= {p.relative_to(run) for p in run.rglob("*") if p.is_file()}, (
        "a file of the earlier run went missing"
    )
    result = outcome(run)
    assert result["epoch"] == uninterrupted["epoch"] == EPOCHS - 1
    for name, tensor in uninterrupted["weights"].items():
        assert torch.equal(tensor, result["weights"][name]), f"{name} differs from the uninterrupted fit"
    assert result["history"] == uninterrupted["history"] and result["scores"] == uninterrupted["scores"]


@pytest.mark.slow
def test_a_preempted_slurm_job_requeues_itself_and_resumes_by_itself(uninterrupted, tmp_path):
    """As `#SBATCH --signal=USR1@90 --requeue` with `hydra.run.dir=outputs/slurm-$SLURM_JOB_ID`
    runs it (docs/scale.md); scontrol is a stand-in that records what it was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    slurm = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    run = tmp_path / "slurm-4242"
    command = [
        "+callbacks.fault._target_=fault_points.SignalAtStep",
        f"+callbacks.fault.step={FAULTS[0][1]}",
        "+callbacks.fault.signal_name=SIGUSR1",
        f"+callbacks.fault.marker={tmp_path / 'fired'}",
        f"hydra.run.dir={run}",
    ]
    first = train(*command, cwd=tmp_path, env=slurm)
    assert first.returncode == 138 and "SLURM job 4242 requeued" in first.stderr, first.stderr[-2000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    again = train(*command, cwd=tmp_path, env={**slurm, "SLURM_RESTART_COUNT": "1"})  # the very same command
    assert again.returncode == 0 and "SLURM job 4242 restarted (1): resuming" in again.stdout, again.stderr[-2000:]
    result = outcome(run)
    assert all(torch.equal(t, result["weights"][k]) for k, t in uninterrupted["weights"].items())
    assert result["history"] == uninterrupted["history"] and result["scores"] == uninterrupted["scores"]
