"""The table (CSV), plot (PNG) and page (report.html) of a sweep, at any time, even while it runs:

    python sweep_report.py                       the latest study in multirun/sweeps.db
    python sweep_report.py list=true             every study there
    python sweep_report.py study=random-1a2b3c4d out=reports/
    python sweep_report.py storage=postgresql://user:pw@host:5432/sweeps study=NAME
    python sweep_report.py storage=sqlite:////abs/path/sweeps.db

Every sweep writes the same three files into its multirun folder when it ends. A URL with a
character Hydra's override grammar keeps for itself (= , # ! & ~ [ ] quotes, a space; e.g. ?sslmode=)
goes in quotes: 'storage="postgresql://user:p=w@host/sweeps?sslmode=require"'. Exit 0: done; 2: a usage or config
error (an unknown key, no such study or database). Keys and defaults: configs/sweep_report.yaml.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="sweep_report")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python sweep_report.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.search.sweep_page import sweep_report

    with exit_on_config_error():
        args = tool_args(cfg, list=bool)
        sweep_report(args.study, args.storage, args.out, args.list)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
