"""The README's picture of report.html: a default run's page, photographed by headless Chromium.

    python benchmarks/screenshot_report.py [overrides for train.py ...]

Trains `python train.py` with the defaults (plus any overrides given, e.g.
trainer.max_epochs=5 for a quick look) into a temporary folder, opens its report.html in
headless Chromium (/usr/bin/chromium: `apt-get install -y chromium`) and writes the top of
the page to docs/report_page.png, as a palette PNG under 300 KB. Prints the run's folder,
the picture's size and how long each step took. Nothing is drawn by hand: rerun it after
the page changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
OUT = PROJECT / "docs" / "report_page.png"
WIDTH, HEIGHT = 1280, 1800  # a laptop screen's width; the verdict, checks, scores and diagnosis
MAX_BYTES = 300_000


def train(run_dir: Path, overrides: list[str]) -> Path:
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), "WANDB_MODE": "offline"}
    cmd = [sys.executable, "train.py", "logger=csv", f"hydra.run.dir={run_dir}", *overrides]
    subprocess.run(cmd, cwd=PROJECT, env=env, check=True, stdout=subprocess.DEVNULL)
    page = run_dir / "report.html"
    if not page.is_file():
        sys.exit(f"error: the run wrote no {page}; see its train.log")
    return page


def photograph(page: Path, shot: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("error: no chromium on PATH; install it (apt-get install -y chromium) and run this again")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                f"--screenshot={shot}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )


def shrink(shot: Path, out: Path) -> int:
    """A 64-colour palette PNG: text and plots stay sharp, the file small enough for a README."""
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    for colours in (64, 32, 16):
        image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        if out.stat().st_size < MAX_BYTES:
            break
    return out.stat().st_size


def main(overrides: list[str]) -> None:
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        page = train(Path(work) / "default-run", overrides)
        trained = time.perf_counter()
        photograph(page, Path(work) / "shot.png")
        size = shrink(Path(work) / "shot.png", OUT)
        print(f"run         python train.py {' '.join(overrides)} ({trained - start:.0f} s)")
        print(f"screenshot  {OUT} ({size / 1000:.0f} KB, {WIDTH}x{HEIGHT}; {time.perf_counter() - trained:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
