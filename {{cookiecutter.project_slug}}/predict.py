"""Predict on new inputs with a trained checkpoint, warning about extrapolation.

    python predict.py ckpt_path=outputs/<date>/<time>/checkpoints/best.ckpt input=new.npy [output=FILE] [overwrite=true]

input: a .npy array [N, *input_shape] (or [N, features]), or a .csv with one example per row
(a header row is skipped). Inputs are standardized with the statistics saved in the
checkpoint (fitted on train). Examples with any feature outside the range seen in training
are flagged: the model extrapolates there, and its predictions deserve less trust.
Writes output (default: the input's full name + .predictions.csv, e.g. new.npy.predictions.csv,
so new.csv and new.npy never share one): row, prediction, confidence / class probabilities,
out_of_range, features_out_of_range. An existing output file is never replaced unless
overwrite=true is given (exit 2 otherwise, before anything is read).
"""

import sys


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__)
        return 0
    from {{cookiecutter.package_name}}.config import exit_on_config_error
    from {{cookiecutter.package_name}}.predicting import predict_file
    from {{cookiecutter.package_name}}.cli import parse_args

    with exit_on_config_error():
        args = parse_args(argv, {"ckpt_path": "", "input": "", "output": "", "overwrite": False})
        predict_file(args["ckpt_path"], args["input"], args["output"] or None, args["overwrite"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
