"""The one inference path: model(s) + a loader -> outputs, targets, example indices.

Final scoring after training, the diagnosis, error analysis, evaluate.py, ensembles and
predict.py all get their outputs here, so they cannot disagree about what a model predicts.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class Predictions:
    out: torch.Tensor  # raw outputs [N, C] or [N, 1]: logits (classification) or values
    y: torch.Tensor  # targets [N]
    index: torch.Tensor  # example indices [N]: FourSplitDataModule.describe(index) names them


def combine(outs: list[torch.Tensor], kind: str) -> torch.Tensor:
    """An ensemble's output (M24): the average probability (softmax / sigmoid) as logits, or the
    average value, so losses and predictions treat an ensemble exactly like one model."""
    if len(outs) == 1:
        return outs[0]
    if kind == "multiclass":
        return torch.stack([o.softmax(-1) for o in outs]).mean(0).clamp_min(1e-12).log()
    if kind == "binary":
        return torch.logit(torch.stack([o.sigmoid() for o in outs]).mean(0), eps=1e-7)
    return torch.stack(outs).mean(0)


@torch.no_grad()
def predict(models, loader, kind: str) -> Predictions:
    """Eval-mode outputs of one model, or of an ensemble, over every batch of the loader."""
    models = models if isinstance(models, (list, tuple)) else [models]
    for m in models:
        m.eval()
    outs, ys, idx = [], [], []
    for x, y, index in loader:
        outs.append(combine([m(x.to(getattr(m, "device", "cpu"))).float().cpu() for m in models], kind))
        ys.append(y)
        idx.append(index)
    if not outs:
        return Predictions(torch.empty(0), torch.empty(0), torch.empty(0, dtype=torch.long))
    return Predictions(torch.cat(outs), torch.cat(ys), torch.cat(idx))


def batches(x: torch.Tensor, batch_size: int = 1024):
    """New inputs (no targets) as the loader `predict` takes: targets are zeros, indices 0..N-1."""
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        yield xb, torch.zeros(len(xb)), torch.arange(start, start + len(xb))
