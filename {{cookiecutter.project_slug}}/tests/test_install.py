"""What the install promises (README, Install): a torchvision that cannot load, PyPI's build
beside a CPU torch, never ends in a traceback: every script stops in one line naming it and
the fix, and leaves nothing behind; data=streaming without its extra (LitData) says how to
install it. .ci/run shows the same on a real uv install with PyPI's torchvision."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import PROJECT, run_cli

BROKEN = 'raise RuntimeError("operator torchvision::nms does not exist")\n'


@pytest.fixture
def broken_torchvision(tmp_path):
    """A site folder holding a torchvision that fails on import as PyPI's does beside a CPU
    torch, with the metadata pip leaves (torchmetrics asks the metadata before importing it)."""
    site = tmp_path / "site"
    (site / "torchvision").mkdir(parents=True)
    (site / "torchvision" / "__init__.py").write_text(BROKEN)
    (site / "torchvision-0.28.0.dist-info").mkdir()
    (site / "torchvision-0.28.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torchvision\nVersion: 0.28.0\n"
    )
    return {"PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), str(site)])}


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train.py", "check.py", "evaluate.py", "sweep_report.py"])
def test_a_torchvision_that_cannot_load_stops_every_script_in_one_line(tmp_path, broken_torchvision, script):
    work = tmp_path / "work"
    work.mkdir()
    done = run_cli(
        str(PROJECT / script), f"hydra.run.dir={work / 'run'}", cwd=work, env=broken_torchvision, timeout=120
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("error: torchvision 0.28.0 is installed but does not load beside torch ")
    assert "operator torchvision::nms does not exist" in lines[0] and "pip uninstall -y torchvision" in lines[0]
    assert not any(work.iterdir()), "a script stopped for the install wrote nothing"


def test_a_torchvision_that_cannot_load_is_named_when_the_package_is_imported(broken_torchvision):
    """Notebooks and tests import the modules directly: the first import of torchmetrics
    (through any module) raises the same one-line BrokenInstall, not the traceback inside it."""
    code = (
        "import {{cookiecutter.package_name}} as p\n"
        "try:\n    import {{cookiecutter.package_name}}.training.fit\n"
        "except p.BrokenInstall as e:\n    print('BrokenInstall:', e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **broken_torchvision},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("BrokenInstall: torchvision 0.28.0 is installed but does not load"), done.stdout


def test_streaming_without_its_extra_says_how_to_install_it(monkeypatch, tmp_path):
    from {{cookiecutter.package_name}}.common import ConfigError
    from {{cookiecutter.package_name}}.data.streaming import StreamingDataModule, prepare

    monkeypatch.setitem(sys.modules, "litdata", None)  # as if LitData were not installed
    for build in (lambda: StreamingDataModule(dir=str(tmp_path)), lambda: prepare(None, {}, str(tmp_path / "out"))):
        with pytest.raises(ConfigError, match=r"streaming extra: pip install -e '\.\[streaming\]'"):
            build()
    assert not (tmp_path / "out").exists()
