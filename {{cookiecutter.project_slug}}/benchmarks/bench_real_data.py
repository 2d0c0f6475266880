"""The recipe on real tables nobody here made (tests/real_data.py), with every default.

    python benchmarks/bench_real_data.py [--only wine,fair] [--epochs N]

Trains each table of the battery once with every default (trainer.max_epochs=20, the shipped
value, unless --epochs says otherwise) and prints, per table: rows, the task read off the data,
the objective, the net's dev score, the dumb baseline's dev score (the class shares or mean
target, ignoring the input), the reference's (gradient-boosted trees fitted on train, the
diagnosis' Bayes proxy) and its cost in seconds, what the checks said, and the wall time. A run the recipe
refuses prints its one-line reason instead. Figures only; nothing is asserted (the battery,
tests/test_real_data.py, asserts).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "src"))
sys.path.insert(0, str(PROJECT / "tests"))  # real_data.py: the battery's tables


def run(table, folder: Path, epochs: int) -> dict:
    import pandas as pd
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from {{cookiecutter.package_name}}.training.fit import train

    out, path = folder / table.name, table.write_csv(folder)
    overrides = [
        "data=table",
        f"data.path={path}",
        f"data.target={table.target}",
        f"trainer.max_epochs={epochs}",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"paths.output_dir={out}",
    ]
    with initialize_config_dir(str(PROJECT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    (out / ".hydra").mkdir(parents=True)
    (out / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    start = time.perf_counter()
    row = {"table": table.name, "rows": len(pd.read_csv(path))}
    log = out / "train.log"
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            summary = train(cfg)
        except SystemExit as e:  # a check failed: train.py would exit 1
            summary = {"refused": f"exit {e.code}"}
        except Exception as e:  # noqa: BLE001 - a refusal (ConfigError) or a crash: either is this table's figure
            summary = {"refused": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    row["seconds"] = time.perf_counter() - start
    checks_file = out / "checks.json"
    checks = json.loads(checks_file.read_text()) if checks_file.is_file() else []
    row["checks"] = (
        ", ".join(f"{c['status']} {c['id']}" for c in checks if c["status"] in ("warn", "fail")) or "all pass"
    )
    if "refused" in summary:
        errors = [line for line in log.read_text().splitlines() if line.startswith("training stopped")]
        row["refused"] = errors[-1] if errors and summary["refused"].startswith("exit") else summary["refused"]
        return row
    preprocessing = json.loads((out / "preprocessing.json").read_text())
    spec = preprocessing.get("spec", {})
    row.update(
        task=spec.get("task"),
        objective=f"{summary['objective']} ({cfg.objective.mode})",
        dev=summary["scores"]["dev"],
        baseline=summary["baseline"]["scores"]["dev"],
    )
    reference = summary.get("diagnosis", {}).get("reference") or {}
    row.update(reference=reference.get("dev"), reference_s=reference.get("seconds"))
    return row


def main() -> None:
    import logging

    from real_data import TABLES

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # its "GPU available" lines between the rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated table names (default: all)")
    parser.add_argument("--epochs", type=int, default=20, help="trainer.max_epochs (default: 20, the shipped value)")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n}
    tables = [t for t in TABLES if not only or t.name in only]
    print(
        f"{'table':<16} {'rows':>6} {'task':<11} {'objective':<16} {'dev':>8} {'baseline':>9} {'reference':>9} "
        f"{'wall s':>7} {'ref s':>6}  checks"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for table in tables:
            r = run(table, Path(tmp), args.epochs)
            if "refused" in r:
                print(f"{r['table']:<16} {r['rows']:>6} refused: {r['refused']}  ({r['seconds']:.1f} s)")
                continue
            ref = "n/a" if r["reference"] is None else f"{r['reference']:.4f}"
            ref_s = "" if r["reference_s"] is None else f"{r['reference_s']:.1f}"
            print(
                f"{r['table']:<16} {r['rows']:>6} {r['task'] or '?':<11} {r['objective']:<16} {r['dev']:>8.4f} {r['baseline']:>9.4f} "
                f"{ref:>9} {r['seconds']:>7.1f} {ref_s:>6}  {r['checks']}"
            )


if __name__ == "__main__":
    main()
