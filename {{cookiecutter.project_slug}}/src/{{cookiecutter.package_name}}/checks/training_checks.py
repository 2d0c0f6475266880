"""Checks that train a little (M12, M13, M21): overfit a tiny subset, beat dumb
baselines on dev, and a learning-rate range test with its plot.

Plain torch loops with the configured optimizer: a Lightning Trainer would cost more
than these few hundred steps.
"""

from __future__ import annotations

import math

import torch

from .core import Result, check
from .model_checks import NEEDS


def _step(net, opt, task, x, y, noise: float = 0.0, l1: float = 0.0) -> float:
    opt.zero_grad()
    inputs = x + noise * torch.randn_like(x) if noise else x
    loss = task.loss(net(inputs), y)
    total = loss + l1 * sum(p.abs().sum() for p in net.parameters() if p.ndim > 1) if l1 else loss
    total.backward()
    opt.step()
    return loss.item()


def _fits(ctx, out, y, loss: float, ref: float, ratio: float) -> bool:
    if not math.isfinite(loss) or loss > ratio * ref:
        return False
    return bool(ctx.task.correct(out, y).all())  # every example right (a regression: the loss alone)


def _overfit(ctx, x, y, lr: float, steps: int, ratio: float, ref: float) -> dict:
    model = ctx.make_model()
    net = model.net.train()
    opt = ctx.optimizer(model, lr=lr)
    first = loss = None
    best, best_at = math.inf, 0
    for step in range(1, steps + 1):
        loss = _step(net, opt, ctx.task, x, y)
        first = loss if first is None else first
        if not math.isfinite(loss):
            break
        if step % 10 == 0 or step == steps:
            with torch.no_grad():
                out = net(x)
                loss = float(ctx.task.loss(out, y))
            if _fits(ctx, out, y, loss, ref, ratio):
                return {"lr": lr, "fit": True, "steps": step, "loss": loss, "first": first}
            if loss < 0.99 * best:
                best, best_at = loss, step
            if step - best_at >= 200 or (step >= 300 and loss > 0.9 * ref):  # stuck, or no better than the prior
                break
    return {"lr": lr, "fit": False, "steps": step, "loss": loss, "first": first}


# long: a check reads top to bottom; most of the rest is its likely-causes message
@check("model.overfit_tiny", fast=False, needs=NEEDS)
def overfit_tiny(ctx, opts) -> Result:
    """5-20 train examples, regularization off: the loss reaches ~0 (100% accuracy) within a step budget."""
    n, steps, ratio = int(opts.get("examples", 10)), int(opts.get("steps", 1000)), float(opts.get("loss_ratio", 0.02))
    x, y = ctx.batch("train", n)
    ref = float(ctx.task.loss(ctx.constant_output(True, len(y), y_ref=y), y))  # the tiny set's own prior
    ref = ref if ref > 0 else 1.0
    lr = ctx.lr
    threshold = f"loss<={ratio:g}x prior" + (", acc 100%" if ctx.task.classes else "")
    runs = [_overfit(ctx, x, y, lr, steps, ratio, ref)]
    first = runs[0]
    if not first["fit"] and lr:  # tell a learning-rate problem from a bug: lr/10 if it diverged, else x10
        diverged = not math.isfinite(first["loss"]) or first["loss"] > first["first"]
        runs.append(_overfit(ctx, x, y, lr * (0.1 if diverged else 10.0), steps, ratio, ref))
    value = {"final_loss": first["loss"], "prior_loss": ref, "steps": first["steps"], "examples": len(y)}
    shown = f"loss {first['loss']:.3g} in {first['steps']} steps"
    if first["fit"]:
        return Result(
            "pass",
            value,
            threshold,
            f"{len(y)} examples fitted in {first['steps']} steps (loss {first['loss']:.3g}, from {first['first']:.3g})",
            shown=shown,
        )
    good = [r for r in runs[1:] if r["fit"]]
    if good:
        return Result(
            "warn",
            value,
            threshold,
            f"with the configured lr {lr:g} the {len(y)} examples are not fitted (loss {first['loss']:.3g} "
            f"after {first['steps']} of at most {steps} steps), "
            f"with lr {good[0]['lr']:g} they are in {good[0]['steps']}",
            f"the learning rate: try optimizer.lr={good[0]['lr']:g} (see train.learning_rate)",
            shown=shown,
            details={"runs": runs},
        )
    causes = []
    if not lr:
        causes.append("the learning rate is 0")
    elif first["loss"] is not None and not math.isfinite(first["loss"]):
        causes.append("the loss diverged: learning rate too high or a numerical bug")
    elif first["first"] and first["loss"] >= 0.9 * first["first"]:
        causes.append(
            "the loss barely moved: a bug (gradients do not flow: see model.all_params_learn, "
            "model.gradient) or a broken loss/label pairing"
        )
    else:
        causes.append(
            "the loss falls but not to 0: too small a model, too few steps, or a learning rate far off "
            f"(lr {runs[-1]['lr']:g} did not fit either)"
        )
    return Result(
        "fail",
        value,
        threshold,
        f"could not fit {len(y)} training examples with regularization off (loss {first['loss']:.3g} from {first['first']:.3g}). Likely: "
        + "; ".join(causes),
        "a model that cannot memorize 10 examples will not learn the data set: fix this first",
        shown=shown,
        details={"runs": runs},
    )


def _train(ctx, steps: int, zero_inputs: bool):
    """A short real run: the configured optimizer and regularization, train batches."""
    model = ctx.make_model(regularized=True)
    net = model.net.train()
    opt = ctx.optimizer(model, regularized=True)
    noise, l1 = float(getattr(model, "input_noise", 0) or 0), float(getattr(model, "l1", 0) or 0)
    task = getattr(model, "task", ctx.task)
    for _, (x, y, _) in zip(range(steps), ctx.train_batches()):
        _step(net, opt, task, torch.zeros_like(x) if zero_inputs else x, y, noise, l1)
    return net.eval()


def _z(diff: torch.Tensor) -> float:
    """How many standard errors the mean paired difference is above 0."""
    diff = diff.double()
    sd = float(diff.std()) if len(diff) > 1 else 0.0
    mean = float(diff.mean())
    return math.inf if sd == 0 and mean > 0 else (0.0 if sd == 0 else mean / (sd / math.sqrt(len(diff))))


@check("model.beats_baseline", fast=False, needs=NEEDS)
def beats_baseline(ctx, opts) -> Result:
    """A short real run beats dumb baselines on dev: the prior / majority / mean predictor and the same model on zeroed inputs."""
    steps, z_min = int(opts.get("steps", 150)), float(opts.get("z", 2.0))
    x, y = ctx.split("dev")
    task = ctx.task
    model_net, zero_net = _train(ctx, steps, zero_inputs=False), _train(ctx, steps, zero_inputs=True)
    with torch.no_grad():
        model_out, zero_out = model_net(x), zero_net(torch.zeros_like(x))
    prior_out = ctx.constant_output(True, len(y))

    # Per-example losses, paired across predictors. Regression compares absolute errors: squared
    # errors are so heavy-tailed that a small dev set has little power to tell predictors apart.
    def per_example(out):
        return task.per_example_loss(out, y) if task.classes else (task.predict(out) - y).abs()  # in the target's units

    losses = {
        name: per_example(out)
        for name, out in (("model", model_out), ("prior", prior_out), ("zeroed inputs", zero_out))
    }
    z = {name: _z(losses[name] - losses["model"]) for name in ("prior", "zeroed inputs")}
    mean = {name: float(v.mean()) for name, v in losses.items()}
    value = {f"dev_{'loss' if task.classes else 'mae'}_{k.replace(' ', '_')}": v for k, v in mean.items()}
    measure = "loss" if task.classes else "absolute error"
    lines = [
        f"dev {measure}: model {mean['model']:.4g}, prior {mean['prior']:.4g} (z={z['prior']:.1f}), zeroed "
        f"inputs {mean['zeroed inputs']:.4g} (z={z['zeroed inputs']:.1f})"
    ]
    if task.classes:
        correct = {name: task.correct(out, y).double() for name, out in (("model", model_out), ("majority", prior_out))}
        z["majority"] = _z(correct["model"] - correct["majority"])
        acc = {k: float(v.mean()) for k, v in correct.items()}
        value.update({"dev_accuracy": acc["model"], "majority_accuracy": acc["majority"]})
        lines.append(
            f"dev accuracy: model {acc['model']:.1%}, majority class {acc['majority']:.1%} (z={z['majority']:.1f})"
        )
    threshold = f"z>={z_min:g} vs each baseline"
    weakest = min(z, key=z.get)
    shown = f"z={z[weakest]:.1f} vs {weakest}"
    details = {"z": z, "steps": steps, "dev_examples": len(y)}
    message = f"after {steps} steps; " + "; ".join(lines)
    if z[weakest] < z_min:
        return Result(
            "fail",
            value,
            threshold,
            f"the trained model does not beat the {weakest} baseline with statistical power on dev ({len(y)} examples): {message}",
            "if model.overfit_tiny or model.initial_loss complain, fix that first (a regression net far from the target "
            "mean: model.output_bias_from_prior=true); else train longer (checks.beats_baseline.steps), check that "
            "inputs and labels line up, or get a bigger dev set",
            shown=shown,
            details=details,
        )
    return Result("pass", value, threshold, message, shown=shown, details=details)


# long: a check reads top to bottom: the range test, the plot, the verdict
@check("train.learning_rate", fast=False, needs=NEEDS)
def learning_rate(ctx, opts) -> Result:
    """LR range test: raise the lr exponentially each step, find where the loss bottoms out and diverges."""
    lo, hi, steps = float(opts.get("min_lr", 1e-6)), float(opts.get("max_lr", 10.0)), int(opts.get("steps", 100))
    far, blowup, beta = float(opts.get("far_above", 3.0)), float(opts.get("diverge", 4.0)), 0.9
    lr = ctx.lr
    if lr is None:
        return Result("skip", None, None, "the optimizer config has no lr")
    model = ctx.make_model(regularized=True)
    net = model.net.train()
    opt = ctx.optimizer(model, lr=lo, regularized=True)
    task = getattr(model, "task", ctx.task)
    lrs = [lo * (hi / lo) ** (i / max(steps - 1, 1)) for i in range(steps)]
    tried, smooth, avg, best, diverged = [], [], 0.0, math.inf, None
    batches = ctx.train_batches()
    for i, rate in enumerate(lrs):
        x, y, _ = next(batches)
        for group in opt.param_groups:
            group["lr"] = rate
        loss = _step(net, opt, task, x, y)
        if not math.isfinite(loss):
            diverged = rate
            break
        avg = beta * avg + (1 - beta) * loss
        s = avg / (1 - beta ** (i + 1))
        tried.append(rate)
        smooth.append(s)
        best = min(best, s)
        if s > blowup * best:
            diverged = rate
            break
    lowest = tried[min(range(len(smooth)), key=smooth.__getitem__)] if smooth else lo
    suggested = lowest / 10  # a tenth of the lr at the lowest loss: the usual pick from a range test
    value = {"configured": lr, "min_loss_lr": lowest, "diverges_at": diverged, "suggested": suggested}
    threshold = f"lr<={far:g}x min-loss lr"
    plot = _plot(ctx, tried, smooth, lr, lowest, diverged, suggested)
    shown = f"lr {lr:g}; min-loss lr {lowest:.2g}"
    where = f"the loss bottoms out at lr {lowest:.2g}" + (f" and diverges from {diverged:.2g}" if diverged else "")
    details = {"lrs": tried, "smoothed_loss": smooth, "plot": plot}
    if lr <= 0:
        return Result(
            "fail",
            value,
            threshold,
            f"optimizer.lr={lr:g}: nothing will learn. {where}",
            f"set optimizer.lr={suggested:.2g}",
            shown=shown,
            details=details,
        )
    if lr > far * lowest:
        return Result(
            "warn",
            value,
            threshold,
            f"the configured lr {lr:g} is far above the stable range: {where}" + (f"; plot: {plot}" if plot else ""),
            f"lower optimizer.lr to ~{suggested:.2g} (or at most {lowest:.2g})",
            shown=shown,
            details=details,
        )
    return Result(
        "pass",
        value,
        threshold,
        f"configured lr {lr:g} is in the stable range: {where}" + (f"; plot: {plot}" if plot else ""),
        shown=shown,
        details=details,
    )


def _plot(ctx, lrs, losses, lr, lowest, diverged, suggested) -> str | None:
    out_dir = getattr(ctx, "out_dir", None)
    if out_dir is None or not lrs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses, label="training loss (smoothed)")
    if lr > 0:
        ax.axvline(lr, color="C3", ls="--", label=f"configured lr {lr:g}")
    ax.axvline(lowest, color="C2", ls=":", label=f"lowest loss at {lowest:.2g}")
    ax.axvline(suggested, color="C1", ls=":", label=f"suggested {suggested:.2g} (lowest / 10)")
    if diverged:
        ax.axvline(diverged, color="k", ls=":", label=f"diverges from {diverged:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate range test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "lr_range.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
