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
Options: ledger=PATH (default: test_ledger.jsonl beside this script), out_dir=DIR.
"""

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__)
        return 0
    from {{cookiecutter.package_name}}.config import exit_on_config_error
    from {{cookiecutter.package_name}}.cli import parse_args
    from {{cookiecutter.package_name}}.vault import evaluate

    with exit_on_config_error():
        args = parse_args(argv, {"ckpt_path": [], "retrain": False, "ledger": "", "out_dir": ""}, lists=("ckpt_path",))
        evaluate(args["ckpt_path"], Path(__file__).resolve().parent, args["ledger"] or None, args["retrain"], args["out_dir"] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
