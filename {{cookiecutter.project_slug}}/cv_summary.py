"""The summary of a k-fold cross-validation (M6), from its fold runs:

    python cv_summary.py multirun/<date>/<time>            the folds of train.py -m data.splits=kfold data.fold='range(5)'
    python cv_summary.py multirun/<date>/<time>/trial_3    one trial of a k-fold sweep (train.py -m sweep=... data.splits=kfold)

Prints per fold and mean ± std of the optimizing metric on train, train_dev and dev, and the
diagnosis on the fold-averaged errors; writes DIR/cv_summary.json. A k-fold multirun writes
the same when it ends. The test split is never read.
"""

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("dir", type=Path, help="the folder whose subfolders are the fold runs")
    args = parser.parse_args(argv)

    from {{cookiecutter.package_name}}.config import ConfigError
    from {{cookiecutter.package_name}}.crossval import write_summary

    try:
        write_summary(args.dir)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
