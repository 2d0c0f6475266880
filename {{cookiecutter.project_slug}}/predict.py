"""Predict on new inputs with a trained checkpoint, warning about extrapolation.

    python predict.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt input=new.npy [output=FILE] [overwrite=true]

input: a .npy array [N, *input_shape] (or [N, features]), or a .csv with one example per row
(a header row is skipped). Inputs are standardized with the statistics saved in the
checkpoint (fitted on train). Examples with any feature outside the range seen in training
are flagged: the model extrapolates there, and its predictions deserve less trust.
Writes output (default: the input's full name + .predictions.csv, e.g. new.npy.predictions.csv,
so new.csv and new.npy never share one): row, prediction, confidence / class probabilities,
out_of_range, features_out_of_range. An existing output file is never replaced unless
overwrite=true is given (exit 2 otherwise, before anything is read). Exit 0: done; 2: a usage
or config error (an unknown key, a missing file). Keys and defaults: configs/predict.yaml.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
def main(cfg: DictConfig) -> None:
    # Imported here, not at the top, so that `python predict.py --help` answers at once.
    from {{cookiecutter.package_name}}.cli import exit_on_config_error, tool_args
    from {{cookiecutter.package_name}}.evaluation.new_inputs import predict_file

    with exit_on_config_error():
        args = tool_args(cfg, overwrite=bool)
        predict_file(args.ckpt_path, args.input, args.output, args.overwrite)


if __name__ == "__main__":
    from {{cookiecutter.package_name}}.cli import run_hydra_app

    run_hydra_app(main)  # a key or value Hydra cannot take: one line, exit 2; nothing written
