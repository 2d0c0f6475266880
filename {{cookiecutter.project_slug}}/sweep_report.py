"""The table (CSV) and plot (PNG) of a sweep, at any time, even while it runs:

    python sweep_report.py                       the latest study in multirun/sweeps.db
    python sweep_report.py --list                every study there
    python sweep_report.py --study random-1a2b3c4d --out reports/
    python sweep_report.py --storage postgresql://user:pw@host:5432/sweeps --study NAME

Every sweep writes the same two files into its multirun folder when it ends.
"""

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--study", help="study name (default: the most recent one)")
    parser.add_argument("--storage", help="database URL (default: sqlite:///multirun/sweeps.db)")
    parser.add_argument("--out", type=Path, help="folder for trials.csv and trials.png (default: multirun/reports/<study>)")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    args = parser.parse_args(argv)

    from {{cookiecutter.package_name}}.search import studies
    from {{cookiecutter.package_name}}.search.report import write_report

    if args.list:
        print("\n".join(studies.listing(args.storage)))
        return 0
    study = studies.load(args.study, args.storage)
    write_report(study, args.out or Path("multirun") / "reports" / study.study_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
