"""model.compile=true: torch.compile of the net for the fit, on the CPU with the shipped MLP. The
checks pass (they see the plain net), the checkpoints hold the plain parameter names, a resume
with the checkpoint alone compiles again and goes on, and predict.py loads the result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import PROJECT, run_cli


@pytest.mark.slow
def test_a_compiled_run_checks_trains_resumes_and_predicts(tmp_path):
    run = tmp_path / "run"
    first = run_cli(str(PROJECT / "train.py"), "model.compile=true", "trainer.max_epochs=1", "logger=csv",
                    "callbacks.last_checkpoint.every_s=0", f"hydra.run.dir={run}", cwd=tmp_path, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    checks = json.loads((run / "checks.json").read_text())
    assert checks and not [c["id"] for c in checks if c["status"] == "fail"]
    for name in ("last.ckpt", "best.ckpt"):
        keys = torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=True)["state_dict"]
        assert keys and not [k for k in keys if "_orig_mod" in k], f"{name}: the compile wrapper's names"

    resumed = run_cli(str(PROJECT / "train.py"), f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                      "trainer.max_epochs=2", cwd=tmp_path, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2

    from sklearn.datasets import load_digits

    np.save(tmp_path / "new.npy", load_digits().data[:5].astype("float32"))
    done = run_cli(str(PROJECT / "predict.py"), f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}",
                   f"input={tmp_path / 'new.npy'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert len((tmp_path / "new.npy.predictions.csv").read_text().strip().splitlines()) == 1 + 5
