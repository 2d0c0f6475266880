"""Prediction on new inputs (predict.py) with an extrapolation warning (M35).

New inputs are standardized with the statistics stored in the checkpoint (fitted on train,
M7) and compared, feature by feature, with the range the training inputs covered (also
stored in the checkpoint, by data.Standardizer). A model is only trustworthy where it
has seen data: examples outside that range are flagged in the output and in a warning.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .analysis import write_csv
from .config import ConfigError
from .diagnosis import outputs_of

TOLERANCE = 1e-3  # in train standard deviations: float noise is not extrapolation


def read_inputs(path: Path, input_shape: tuple) -> torch.Tensor:
    """[N, *input_shape] float tensor from a .npy or .csv file, or a one-line ConfigError."""
    if not path.is_file():
        raise ConfigError(f"input={path} does not exist; pass a .npy or .csv file of new examples")
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise ConfigError(f"input={path} is not a readable .npy array ({e}); save it with numpy.save") from None
    elif path.suffix == ".csv":
        try:
            x = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError:
            try:  # a header row
                x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
            except ValueError as e:
                raise ConfigError(f"input={path}: not a numeric CSV ({e}); one example per row, numbers only") from None
    else:
        raise ConfigError(f"input={path}: unknown file type {path.suffix!r}; use a .npy or .csv file")
    x = np.asarray(x, dtype=np.float32)
    size = math.prod(input_shape)
    if tuple(x.shape) == tuple(input_shape):
        x = x[None]
    elif tuple(x.shape[1:]) != tuple(input_shape):
        if x.ndim >= 2 and math.prod(x.shape[1:]) == size:  # e.g. [N, 64] or [N, 8, 8] for [1, 8, 8]
            x = x.reshape(len(x), *input_shape)
        else:
            raise ConfigError(
                f"input={path} has shape {list(x.shape)}, but the model takes examples of shape {list(input_shape)}; "
                f"pass [N, {', '.join(map(str, input_shape))}] or [N, {size}]"
            )
    if not np.isfinite(x).all():
        raise ConfigError(f"input={path} contains NaN or Inf values; clean or impute them first")
    return torch.from_numpy(np.ascontiguousarray(x))


def out_of_range(xs: torch.Tensor, input_range: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: how many features fall outside the training range, and by how much (in train stds)."""
    lo, hi = input_range["min"].float(), input_range["max"].float()
    below = (lo - xs).clamp_min(0).flatten(1)
    above = (xs - hi).clamp_min(0).flatten(1)
    excess = torch.maximum(below, above)
    return (excess > TOLERANCE).sum(1), excess.amax(1)


def default_output(source: Path) -> Path:
    """new.npy -> new.npy.predictions.csv: the whole input name, so new.csv and new.npy never share one."""
    return source.with_name(source.name + ".predictions.csv")


def predict_file(ckpt_path: str, input_path: str, output_path: str | None = None, overwrite: bool = False) -> dict:
    from .vault import load_run

    if not ckpt_path:
        raise ConfigError("ckpt_path is missing; python predict.py ckpt_path=<run>/checkpoints/best.ckpt input=new.npy")
    if not input_path:
        raise ConfigError("input is missing; python predict.py ckpt_path=... input=new.npy (or a .csv)")
    source = Path(input_path)
    output = Path(output_path) if output_path else default_output(source)
    if output.resolve() == source.resolve():
        raise ConfigError(f"output={output} is the input file; choose another output path")
    if output.is_dir():
        raise ConfigError(f"output={output} is a directory; pass a file name, e.g. output={output / 'predictions.csv'}")
    if output.exists() and not overwrite:
        raise ConfigError(f"{output} already exists and would be overwritten; pass overwrite=true to replace it, "
                          "or another output=FILE")
    cfg, model, datamodule, _ = load_run(ckpt_path, setup_data=False)
    x = read_inputs(source, datamodule.input_shape)
    xs = datamodule.standardizer.transform(x)
    input_range = datamodule.standardizer.input_range
    if input_range is None:  # an older checkpoint: recompute from the train split (never test)
        datamodule.setup("validate")
        train_x = datamodule.split("train")[0]
        input_range = {"min": train_x.amin(0), "max": train_x.amax(0)}
    n_out, excess = out_of_range(xs, input_range)

    task = model.task
    out = outputs_of(model, xs, task)
    pred = task.predict(out)
    rows = []
    for i in range(len(x)):
        row = {"row": i, "prediction": float(pred[i]) if task.kind == "regression" else int(pred[i])}
        if task.kind == "multiclass":
            p = out[i].softmax(-1)
            row["confidence"] = round(float(p.max()), 4)
            if task.num_classes <= 20:
                row.update({f"p_{c}": round(float(p[c]), 4) for c in range(task.num_classes)})
        elif task.kind == "binary":
            row["p_1"] = round(float(out[i].reshape(-1)[0].sigmoid()), 4)
        row.update({"out_of_range": bool(n_out[i] > 0), "features_out_of_range": int(n_out[i]),
                    "max_excess_in_train_stds": round(float(excess[i]), 3)})
        rows.append(row)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_csv(output, rows)

    flagged = [i for i in range(len(x)) if n_out[i] > 0]
    if flagged:
        shown = ", ".join(map(str, flagged[:10])) + (" ..." if len(flagged) > 10 else "")
        print(f"warning: {len(flagged)} of {len(x)} inputs lie outside the training range in at least one feature "
              f"(rows {shown}; up to {float(excess.max()):.2f} train standard deviations beyond it): the model "
              "extrapolates there, treat those predictions with caution")
    print(f"{len(x)} predictions -> {output}")
    return {"output": str(output), "n": len(x), "out_of_range_rows": flagged}
