"""The only door to the test set: evaluate a checkpoint (or an ensemble) once, on test.

    python evaluate.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt
    python evaluate.py ckpt_path=[run1/checkpoints/best.ckpt,run2/checkpoints/best.ckpt]   # ensemble
    python evaluate.py ckpt_path=... retrain=true      # first retrain the chosen config on train + dev

Prints the final report (train, train_dev, dev and test errors, with the dev-overfitting gap)
into <run dir>/final_evaluation/final_report_<n>.json (n: its entry in the ledger; every
evaluation keeps its own report, retrain=true its own retrained_<n>/ folder) and appends an
entry to test_ledger.jsonl in this project (time, checkpoints, config hash, result, report;
paths inside the project relative to it, so the ledger can be committed). From the second
evaluation on it warns how many times the test set has been seen. Evaluate when development
is over, not to choose.
Options: ledger=PATH (default: test_ledger.jsonl beside this script), out_dir=DIR. Exit 0: done;
2: a usage or config error (an unknown key, a missing checkpoint). Keys and defaults: configs/evaluate.yaml.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python evaluate.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.vault.final_evaluation import evaluate

    with exit_on_config_error():
        args = tool_args(cfg, ckpt_path=list, retrain=bool)
        evaluate(args.ckpt_path, Path(__file__).resolve().parent, args.ledger, args.retrain, args.out_dir)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
