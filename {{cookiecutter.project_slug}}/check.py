"""Sanity checks before training, on the configured data and model (M9-M17, M21):

    python check.py [overrides]                 same config and overrides as train.py
    python check.py model=cnn data=diabetes     e.g.
    python check.py checks=fast                 the quick subset train.py runs first
    python check.py checks.only=[model.gradient] checks.skip=[train.learning_rate]

Prints a table (check, status, value, threshold, time; the remedy under a warning or
failure) and writes checks.json (and lr_range.png) into the run directory
(hydra.run.dir=DIR). Exit 0: nothing failed (warnings allowed); 1: a check failed;
2: a usage or config error. Never reads the test split. Checks: configs/checks/.
"""

import sys

import hydra
from omegaconf import DictConfig

_codes: list[int] = []  # one per run (several under -m)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python check.py --help` answers at once.
    from {{cookiecutter.package_name}}.checks import main as run_checks
    from {{cookiecutter.package_name}}.cli import exit_on_config_error

    with exit_on_config_error():
        _codes.append(run_checks(cfg))


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import refuse_an_existing_run_dir, run_hydra_app

    refuse_an_existing_run_dir(sys.argv[1:])  # before Hydra writes .hydra/ into it
    run_hydra_app(main, _codes)  # an override Hydra cannot compose: one line, exit 2, no run folder
    sys.exit(max(_codes, default=0))
