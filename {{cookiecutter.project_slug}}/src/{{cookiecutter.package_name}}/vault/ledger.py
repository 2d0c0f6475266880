"""The ledger of the test vault (M5): test_ledger.jsonl in the project, one line per opening of
the test split (when, which checkpoint(s), which config hash, the result, its report file).
Paths inside the project are stored relative to its root, so the ledger can be committed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

LEDGER = "test_ledger.jsonl"


def config_hash(config: dict) -> str:
    """Identifies the experiment, not where it ran: paths and the resume path are left out.
    `config`: a run's saved config as plain values, unresolved (build.load_run passes it)."""
    plain = {k: v for k, v in config.items() if k not in ("paths", "ckpt_path", "hydra")}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:12]


def read_ledger(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def project_relative(path, project_dir: Path) -> str:
    """A path relative to the project root when it lies inside it (a committed ledger must not
    hold /tmp/... or /home/<user>/... paths); an absolute one otherwise."""
    path = Path(str(path)).resolve()
    try:
        return path.relative_to(Path(project_dir).resolve()).as_posix()
    except ValueError:
        return str(path)


def free_path(path: Path) -> Path:
    """path, or path with a time stamp when it exists already: a record is never overwritten."""
    path = Path(path)
    if not path.exists():
        return path
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return path.with_name(f"{path.stem}_{stamp}{path.suffix}")


def append_ledger(path: Path, entry: dict) -> None:
    with Path(path).open("a") as f:
        f.write(json.dumps(entry) + "\n")
