"""Train a model:  python train.py [overrides]        e.g. model=cnn optimizer=sgd
Run an experiment: python train.py +experiment=cnn_digits
Sweep:             python train.py -m optimizer=adam,sgd
Resume:            python train.py ckpt_path=outputs/<date>/<time>/checkpoints/last.ckpt

Configs live in configs/ (start at configs/train.yaml); the code in src/{{cookiecutter.package_name}}/.
"""

import sys

import hydra
from omegaconf import DictConfig

_started: list[bool] = []  # a job began: an exit after that is the run's own, not Hydra's


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    _started.append(True)
    # Imported here, not at the top, so that `python train.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error
    from {{cookiecutter.package_name}}.training.fit import train

    with exit_on_config_error():
        summary = train(cfg)
    return summary["scores"]["dev"]  # what a sweeper optimizes


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import (
        list_parts_as_sweeps,
        one_run_folder_for_all_nodes,
        refuse_an_existing_run_dir,
        resume_with_the_runs_overrides,
        run_hydra_app,
    )

    refuse_an_existing_run_dir(sys.argv[1:])  # before Hydra writes .hydra/ into it
    sys.argv[1:] = resume_with_the_runs_overrides(list_parts_as_sweeps(sys.argv[1:]))
    sys.argv[1:] = one_run_folder_for_all_nodes(sys.argv[1:])
    run_hydra_app(main, _started)  # an override Hydra cannot compose: one line, exit 2, no run folder
