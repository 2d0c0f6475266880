"""Diagnose a trained checkpoint: what to do next (bias / variance / data mismatch).

    python diagnose.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt [out_dir=DIR] [worst_k=24]

Prints human-level, train, train_dev and dev errors, the gaps between them and the next step
for the largest gap, and writes into out_dir (default: <run dir>/diagnose-<checkpoint name>):
diagnosis.json, learning_curves.png, confusion matrix, per-class metrics and the worst dev
mistakes (PNG + CSV with `mislabeled` and `note` columns to tag by hand; run it again and
the tags already in the CSV are kept, matched on the dataset index).
Never reads the test split: that is evaluate.py's job. Exit 0: done; 2: a usage or config error
(an unknown key, a missing checkpoint). Keys and defaults: configs/diagnose.yaml.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="diagnose")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python diagnose.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.evaluation.end_of_run import diagnose_checkpoint

    with exit_on_config_error():
        args = tool_args(cfg, worst_k=int)
        diagnose_checkpoint(args.ckpt_path, args.out_dir, args.worst_k)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
