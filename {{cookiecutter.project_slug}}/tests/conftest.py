"""Shared fixtures. Configs are composed in-process with Hydra's compose API, so the
whole suite pays the ~6 s `import lightning` once instead of once per test."""

from __future__ import annotations

import importlib.util
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
                overrides=[
                    f"paths.output_dir={output_dir or tmp_path}",
                    "logger=none",
                    "trainer.enable_progress_bar=false",
                    *overrides,
                ],
            )

    return make


def compose_train(out: Path, *overrides: str):
    """The train config composed as train.py does, writing into `out` (no logger, no progress
    bar; overrides win), with out/.hydra/config.yaml as train.py's Hydra writes it: load_run
    (diagnose, evaluate, predict) reads the run's config from there."""
    from omegaconf import OmegaConf

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"paths.output_dir={out}", "logger=none", "trainer.enable_progress_bar=false", *overrides],
        )
    (out / ".hydra").mkdir(parents=True, exist_ok=True)
    (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return cfg


def run_cli(
    *args: str, cwd: Path = PROJECT, timeout: int = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a project script the way a user does, e.g. run_cli("train.py", "-m", ...). Without the
    W&B service an in-process test of this worker may have started (wandb puts its address in
    WANDB_SERVICE): attached to it, a resumed run would find its own run id still "in use"."""
    inherited = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env = {**inherited, "PYTHONPATH": str(PROJECT / "src"), **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_script(script: str, *overrides: str) -> int:
    """`python <script> key=value ...` in this process, the way its `__main__` runs it
    (config.run_hydra_app): its exit code. For the tool scripts, which write nothing of Hydra's."""
    from hydra.core.global_hydra import GlobalHydra

    from {{cookiecutter.package_name}}.cli import run_hydra_app

    spec = importlib.util.spec_from_file_location(f"{Path(script).stem}_script", PROJECT / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main.__wrapped__.__module__ = "__main__"  # Hydra finds configs/ beside the script
    argv, sys.argv = sys.argv, [str(PROJECT / script), *overrides]
    try:
        run_hydra_app(module.main)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
