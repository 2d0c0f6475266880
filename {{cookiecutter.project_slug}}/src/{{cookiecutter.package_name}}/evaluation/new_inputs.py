"""Prediction on new inputs (predict.py) with an extrapolation warning (M35).

New inputs come in the form the user has them (a .npy/.csv array, raw table rows, image
files or a folder), are preprocessed with the state fitted on train and stored in the
checkpoint (M7), and are compared, feature by feature, with the range the training inputs
covered (also in the checkpoint). A model is only trustworthy where it has seen data:
examples outside that range are flagged in the output and in a warning.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..common import ConfigError
from .analysis import write_csv
from .inference import batches, predict

TOLERANCE = 1e-3  # in train standard deviations: float noise is not extrapolation
INPUTS = {
    "arrays": "a .npy or numeric .csv file",
    "table": "a .csv or .parquet file with the training columns",
    "image_folder": "an image file or a folder of images",
}


def out_of_range(xs: torch.Tensor, input_range: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: how many features fall outside the training range, and by how much (in train stds)."""
    lo, hi = input_range["min"].float(), input_range["max"].float()
    below = (lo - xs).clamp_min(0).flatten(1)
    above = (xs - hi).clamp_min(0).flatten(1)
    excess = torch.maximum(below, above)
    return (excess > TOLERANCE).sum(1), excess.amax(1)


def default_output(source: Path, run_dir: Path) -> Path:
    """new.npy -> new.npy.predictions.csv beside it: the whole input name, so new.csv and new.npy
    never share one. A folder of images -> <run>/predictions/<folder>.predictions.csv, so that
    nothing is ever written into an image folder (it could be, or become, training data)."""
    if source.is_dir():
        return run_dir / "predictions" / f"{source.resolve().name}.predictions.csv"
    return source.with_name(source.name + ".predictions.csv")


def writable_output(output: Path, source: Path, overwrite: bool) -> Path:
    """output, once sure writing it destroys nothing: not the input, not a folder, not an earlier file."""
    if output.resolve() == source.resolve():
        raise ConfigError(f"output={output} is the input file; choose another output path")
    if output.is_dir():
        raise ConfigError(f"output={output} is a directory; pass a file name, e.g. output={output / 'predictions.csv'}")
    if output.exists() and not overwrite:
        raise ConfigError(
            f"{output} already exists and would be overwritten; pass overwrite=true to replace it, "
            "or another output=FILE"
        )
    return output


def predict_file(ckpt_path: str, input_path: str, output_path: str | None = None, overwrite: bool = False) -> dict:
    """predict.py's one path: read the new inputs as the run's data module reads its own, check
    them, predict through the one inference path, write one row per input with its range flags."""
    from ..build import load_run

    if not ckpt_path:
        raise ConfigError(
            "ckpt_path is missing; python predict.py ckpt_path=<run>/checkpoints/best.ckpt input=FILE_OR_DIR"
        )
    if not input_path:
        raise ConfigError("input is missing; python predict.py ckpt_path=... input=FILE_OR_DIR")
    source = Path(input_path)
    if not source.exists():
        raise ConfigError(f"input={source} does not exist; pass the new examples' file or folder")
    run = load_run(ckpt_path, setup_data=False)  # reads no data, writes nothing
    model, datamodule = run.model, run.datamodule
    output = writable_output(
        Path(output_path) if output_path else default_output(source, run.run_dir), source, overwrite
    )
    spec = datamodule.spec
    try:
        xs, names = datamodule.read_new(str(source))
    except NotImplementedError:
        raise ConfigError(f"this run's data ({spec.source_kind}) cannot read new inputs from files") from None
    for note in datamodule.read_notes():  # a table: categories it never saw
        print(f"note: {note}")
    if len(xs) == 0:
        raise ConfigError(f"input={source} holds no examples; pass {INPUTS.get(spec.source_kind, 'new examples')}")
    if not torch.isfinite(xs).all():
        raise ConfigError(f"input={source} contains NaN or Inf values after preprocessing; clean or impute them first")
    n_out, excess = out_of_range(xs, datamodule.standardizer.input_range)

    out = predict(model, batches(xs)).out
    columns = model.task.prediction_columns(out, spec.class_name)
    rows = []
    for i in range(len(xs)):
        row = {"example": names[i], **columns[i]}
        row.update(
            {
                "out_of_range": bool(n_out[i] > 0),
                "features_out_of_range": int(n_out[i]),
                "max_excess_in_train_stds": round(float(excess[i]), 3),
            }
        )
        rows.append(row)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_csv(output, rows)

    flagged = [i for i in range(len(xs)) if n_out[i] > 0]
    if flagged:
        shown = ", ".join(names[i] for i in flagged[:10]) + (" ..." if len(flagged) > 10 else "")
        print(
            f"warning: {len(flagged)} of {len(xs)} inputs lie outside the training range in at least one feature "
            f"({shown}; up to {float(excess.max()):.2f} train standard deviations beyond it): the model "
            "extrapolates there, treat those predictions with caution"
        )
    print(f"{len(xs)} predictions -> {output}")
    return {"output": str(output), "n": len(xs), "out_of_range_rows": flagged, "rows": rows}
