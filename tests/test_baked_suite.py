"""The one slow template test: the default baked project's own test suite passes."""

from __future__ import annotations

import os
import subprocess
import sys


def test_baked_default_project_suite_passes(bake, tmp_path):
    project = bake(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "WANDB_MODE": "offline"}
    done = subprocess.run(
        # Test files in parallel (pytest-xdist, one worker per core), each file on one worker so its
        # module-scoped fitted runs are made once: 2.4x faster than serial on 2 cores (514 s vs 1244 s).
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--durations=10",
            "-n",
            "auto",
            "--dist",
            "loadfile",
        ],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    report = (done.stdout + done.stderr)[-6000:]
    print(report)  # shown with -s or on failure: the suite's summary and slowest tests
    assert done.returncode != 5, "the baked project collected no tests"
    assert done.returncode == 0, report
    assert " passed" in done.stdout
