"""An example of your own check, yours to edit or delete: `python check.py` runs it with the
recipe's checks, and `python train.py` before training (it is fast).

A check is a function (ctx, opts) -> Result registered under an id with @check; ctx gives
batches of train / train_dev / dev (never test) and fresh models built from the config
(checks/core.py: CheckContext); opts is the block `checks.<last part of the id>` of the config,
if you add one (configs/checks/default.yaml). Return pass, warn or fail with what was measured
and what to do; `needs` names checks whose failure makes this one meaningless.
"""

from __future__ import annotations

import torch

from {{cookiecutter.package_name}}.checks import Result, check


@check("model.eval_deterministic", needs=("model.output_matches_task",))
def eval_deterministic(ctx, opts) -> Result:
    """In eval mode the net gives the same outputs for the same batch twice. Randomness left on
    at evaluation (F.dropout(x, p) without training=self.training, noise added in forward())
    makes every dev score, checkpoint choice and prediction a draw."""
    net = ctx.make_model(regularized=True).net.eval()  # regularizers on, as the net is trained
    x, _ = ctx.batch("dev", int(opts.get("examples", 64)))
    with torch.no_grad():
        first, second = net(x), net(x)
    gap = float((first - second).abs().max())
    scale = float(first.abs().max()) + 1e-12
    if gap > 1e-4 * scale + 1e-6:  # far above float rounding, even of a GPU's non-deterministic kernels
        return Result(
            "fail",
            gap,
            "same outputs",
            f"two eval-mode passes over the same {len(x)} dev examples differ by up to {gap:.3g} (outputs up to {scale:.3g})",
            "something random runs in eval mode: pass training=self.training to F.dropout, or use nn.Dropout; "
            "add noise only when self.training",
            shown=f"differs by {gap:.2g}",
        )
    return Result("pass", gap, "same outputs", f"two eval-mode passes over {len(x)} dev examples agree", shown="same")
