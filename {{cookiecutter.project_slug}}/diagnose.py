"""Diagnose a trained checkpoint: what to do next (bias / variance / data mismatch).

    python diagnose.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt [out_dir=DIR] [worst_k=24]

Prints human-level, train, train_dev and dev errors, the gaps between them and the next step
for the largest gap, and writes into out_dir (default: <run dir>/diagnose-<checkpoint name>):
diagnosis.json, learning_curves.png, confusion matrix, per-class metrics and the worst dev
mistakes (PNG + CSV with `mislabeled` and `note` columns to tag by hand; run it again and
the tags already in the CSV are kept, matched on the dataset index).
Never reads the test split: that is evaluate.py's job.
"""

import sys


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__)
        return 0
    from {{cookiecutter.package_name}}.config import exit_on_config_error
    from {{cookiecutter.package_name}}.diagnosis import diagnose_checkpoint
    from {{cookiecutter.package_name}}.cli import parse_args

    with exit_on_config_error():
        args = parse_args(argv, {"ckpt_path": "", "out_dir": "", "worst_k": 24})
        diagnose_checkpoint(args["ckpt_path"], args["out_dir"] or None, args["worst_k"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
