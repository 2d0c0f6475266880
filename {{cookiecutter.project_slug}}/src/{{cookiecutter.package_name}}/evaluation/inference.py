"""The one inference path: model(s) + a loader -> outputs, targets, example indices.

Final scoring after training, the diagnosis, error analysis, evaluate.py, ensembles and
predict.py all get their outputs here, so they cannot disagree about what a model predicts.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class Predictions:
    out: torch.Tensor  # raw outputs [N, C], [N, L] or [N, 1]: logits, or standardized values (task.predict reads them)
    y: torch.Tensor  # targets [N] ([N, L] multilabel)
    index: torch.Tensor  # example indices [N]: FourSplitDataModule.describe(index) names them


@torch.no_grad()
def predict(models, loader) -> Predictions:
    """Eval-mode outputs of one model, or of an ensemble (M24), over every batch of the loader.

    An ensemble's output is the first model's task combining the members' outputs (the mean
    probability, as logits; the mean value), so losses and predictions treat an ensemble
    exactly like one model."""
    models = models if isinstance(models, (list, tuple)) else [models]
    for m in models:
        m.eval()
    task = models[0].task
    outs, ys, idx = [], [], []
    for x, y, index in loader:
        member_outs = [task.from_other(m.task, m(x.to(getattr(m, "device", "cpu"))).float().cpu()) for m in models]
        outs.append(member_outs[0] if len(models) == 1 else task.combine(member_outs))
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
