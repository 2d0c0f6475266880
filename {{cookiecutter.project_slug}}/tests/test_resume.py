"""Resume in one argument: `python train.py ckpt_path=<run>/checkpoints/last.ckpt` continues the
run with its own config (its .hydra/overrides.yaml); the command line may raise the budget or
change how the run is watched, nothing else; a budget below what the checkpoint has trained is
one line naming both numbers, exit 2, with nothing of the run touched."""

from __future__ import annotations

import json

import pytest
from conftest import PROJECT, run_cli

RUN_OVERRIDES = ["trainer.max_epochs=2", "callbacks.last_checkpoint.every_s=0", "optimizer.lr=0.002", "logger=csv"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run of 2 epochs made with overrides a resume must not have to repeat."""
    base = tmp_path_factory.mktemp("resume")
    run = base / "run"
    done = run_cli(str(PROJECT / "train.py"), *RUN_OVERRIDES, f"hydra.run.dir={run}", cwd=base)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


def _files(run):
    return {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, says",
    [
        (["trainer.max_epochs=1"], "error: trainer.max_epochs=1 is below the 2 epochs ckpt_path="),
        (["+trainer.max_steps=3"], "error: trainer.max_steps=3 is below the "),
        (
            ["optimizer.lr=0.1"],
            "error: resuming with another config than the run's: optimizer.lr=0.1 (the run had 0.002)",
        ),
    ],
)
def test_a_resume_that_cuts_the_budget_or_changes_the_config_is_one_line_and_touches_nothing(interrupted, args, says):
    before = _files(interrupted)
    done = run_cli(str(PROJECT / "train.py"), f"ckpt_path={interrupted / 'checkpoints' / 'last.ckpt'}", *args,
                   cwd=interrupted.parent)  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith(says), done.stderr[-2000:]
    assert "resume with" in errors[0] or "start a new run" in errors[0]
    assert _files(interrupted) == before, "a refused resume changed the run's files"


@pytest.mark.slow
def test_the_checkpoint_path_alone_resumes_the_run_with_its_own_config(interrupted):
    done = run_cli(str(PROJECT / "train.py"), f"ckpt_path={interrupted / 'checkpoints' / 'last.ckpt'}",
                   "trainer.max_epochs=3", cwd=interrupted.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming with the run's own overrides (.hydra/overrides.yaml): " in done.stdout
    assert "optimizer.lr=0.002" in done.stdout.split("resuming with the run's own overrides")[1].splitlines()[0]
    summary = json.loads((interrupted / "summary.json").read_text())
    assert summary["epochs"] == 3, "the resumed run went on to the raised budget"
    history = json.loads((interrupted / "history.json").read_text())
    assert [row["epoch"] for row in history] == [0, 1, 2], "one history: the two epochs before and the one after"


@pytest.mark.slow
def test_a_sweep_trial_resumes_with_its_checkpoint_alone(tmp_path):
    """The trial's own overrides (its sampled values) come back; its sweep_trial.* bookkeeping
    does not, so the resumed run reports to no study (whose trial is finished)."""
    sweep = tmp_path / "sweep"
    done = run_cli(str(PROJECT / "train.py"), "-m", "sweep=random", "hydra.sweeper.n_trials=1", "trainer.max_epochs=1",
                   "callbacks.last_checkpoint.every_s=0", "logger=none", f"hydra.sweep.dir={sweep}",
                   f"hydra.sweeper.storage=sqlite:///{tmp_path / 'sweeps.db'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    trial = sweep / "trial_0"
    lr = next(o for o in (trial / ".hydra" / "overrides.yaml").read_text().splitlines() if "optimizer.lr=" in o)
    resumed = run_cli(str(PROJECT / "train.py"), f"ckpt_path={trial / 'checkpoints' / 'last.ckpt'}",
                      "trainer.max_epochs=2", cwd=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert lr.lstrip("- ") in resumed.stdout and "sweep_trial" not in resumed.stdout.split("\n")[0]
    assert json.loads((trial / "summary.json").read_text())["epochs"] == 2
