"""The summary of a k-fold cross-validation (M6), from its fold runs:

    python cv_summary.py dir=multirun/<date>/<time>           the folds of train.py -m data.splits=kfold data.fold='range(5)'
    python cv_summary.py dir=multirun/<date>/<time>/trial_3   one trial of a k-fold sweep (train.py -m sweep=... data.splits=kfold)

Prints per fold and mean ± std of the optimizing metric on train, train_dev and dev, and the
diagnosis on the fold-averaged errors; writes DIR/cv_summary.json. A k-fold multirun writes
the same when it ends. The test split is never read. Exit 0: done; 2: a usage or config error
(an unknown key, a folder that is not one cross-validation). Keys: configs/cv_summary.yaml.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="cv_summary")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python cv_summary.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.evaluation.crossval import write_summary

    with exit_on_config_error():
        write_summary(tool_args(cfg).dir)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
