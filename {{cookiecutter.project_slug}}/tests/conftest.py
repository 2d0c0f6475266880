"""Shared fixtures. Configs are composed in-process with Hydra's compose API, so the
whole suite pays the ~6 s `import lightning` once instead of once per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

PROJECT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT / "configs"

os.environ.setdefault("WANDB_MODE", "offline")  # tests never talk to the network
# The suite's models are tiny: one thread beats two (and beats oversubscribing a busy CI box).
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture
def make_cfg(tmp_path):
    """make_cfg("model=cnn", ...) -> a composed config writing into tmp_path, no logger."""

    def make(*overrides: str, output_dir: Path | None = None):
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            return compose(
                "train",
                overrides=[f"paths.output_dir={output_dir or tmp_path}", "logger=none", "trainer.enable_progress_bar=false", *overrides],
            )

    return make


def run_cli(*args: str, cwd: Path = PROJECT, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a project script the way a user does, e.g. run_cli("train.py", "-m", ...)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
