"""Model checks on the untrained model (M10, M11, M14, M15, M16), regularization off.

They work for any torch.nn.Module given as model.net: they only call net(x), the
task's loss, and the configured optimizer.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..common import ConfigError
from ..model.initialization import last_module, output_layer
from ..model.task_module import check_net
from .core import Result, check

NEEDS_DATA = ("data.finite", "data.labels_in_range")
NEEDS = (*NEEDS_DATA, "model.output_matches_task")


@check("model.output_matches_task", needs=NEEDS_DATA)
def output_matches_task(ctx, opts) -> Result:
    """Output shape and activation fit the task's loss: raw logits for CE/BCE, one value for MSE."""
    net = ctx.make_model().net.eval()
    x, _ = ctx.batch("train", int(opts.get("examples", 32)))
    with torch.no_grad():
        out = net(x)
    task = ctx.task
    threshold, shown = task.expected_output, str(list(out.shape))
    try:
        check_net(task, net, x)  # the shape, and no final softmax/sigmoid module
    except ConfigError as e:
        return Result(
            "fail",
            list(out.shape),
            threshold,
            str(e),
            "make the net's last layer emit what the task's loss expects",
            shown=shown,
        )
    if not torch.isfinite(out).all():
        return Result(
            "fail",
            list(out.shape),
            threshold,
            "the untrained net outputs NaN/Inf",
            "check the init and the forward pass",
            shown=shown,
        )
    # Activations applied in forward() (not as a module) are invisible to check_net: test the values.
    problem = activation_in_forward(task, net, x)
    if problem:
        message, _, remedy = problem.partition("; ")  # "what was seen; the fix"
        return Result("fail", list(out.shape), threshold, message, remedy, shown=shown)
    if isinstance(last_module(net, x), (nn.ReLU, nn.ReLU6)):  # by data flow: the module forward() runs last
        return Result(
            "warn",
            list(out.shape),
            threshold,
            "the net ends in a ReLU: its outputs cannot go below 0",
            "end with a Linear layer (raw logits / values)",
            shown=shown,
        )
    return Result(
        "pass",
        list(out.shape),
        threshold,
        f"{ctx.kind}: outputs {list(out.shape)} of raw values, as {task.loss_name} expects",
        shown=shown,
    )


PROBE_SHIFTS = (-4.0, 4.0)  # logits moved this far leave (0, 1) and any "rows sum to 1" behind


@torch.no_grad()
def activation_in_forward(task, net, x) -> str | None:
    """The task's test for a softmax/sigmoid applied in forward(), made immune to small logits.

    An untrained net's logits sit near 0 (small output layer) or near the prior (its bias), so
    its raw outputs can all fall in (0, 1) by chance. Probed twice, with the output layer's
    output shifted by -4 and +4: raw logits move with the shift and cannot look like
    probabilities both times; a sigmoid, softmax or log_softmax after that layer keeps its
    range whatever the shift. A net without a Linear/Conv output layer is tested as it is."""
    layer = output_layer(net, x)[1]
    if layer is None:
        return task.activation_in_forward(net(x))
    problems = []
    for shift in PROBE_SHIFTS:
        hook = layer.register_forward_hook(lambda module, inputs, output, shift=shift: output + shift)
        try:
            problems.append(task.activation_in_forward(net(x)))
        finally:
            hook.remove()
    return problems[0] if all(problems) else None


# long: a check reads top to bottom; the two judgements (too confident, too good) share every measured value
@check("model.initial_loss", needs=NEEDS)
def initial_loss(ctx, opts) -> Result:
    """Untrained loss (regularization off) ~ the loss of the constant it starts at, over several inits."""
    inits, tol = int(opts.get("inits", 3)), float(opts.get("rel_tol", 0.1))
    x, y = ctx.batch("train", int(opts.get("examples", 512)))
    losses, outs = [], []
    for k in range(inits):
        model = ctx.make_model(ctx.seed + k)
        net = model.net.train()  # the loss of the first training step (dropout is off)
        with torch.no_grad():
            outs.append(net(x))
            losses.append(float(ctx.task.loss(outs[-1], y)))
    from_prior = starts_at_prior(ctx, model)
    constant = ctx.constant_output(from_prior, len(y))
    start = float(ctx.task.loss(constant, y))  # the constant it starts at
    judged = [_judge_init(ctx.task, out, constant, y, start, tol, seed=ctx.seed + i) for i, out in enumerate(outs)]
    prior = float(ctx.task.loss(ctx.constant_output(True, len(y)), y))  # the best constant: the prior
    prior_full = ctx.task.prior_loss(ctx.targets("train"))
    mean = sum(losses) / inits
    spread = (sum((v - mean) ** 2 for v in losses) / inits) ** 0.5
    k = max(range(inits), key=lambda i: max(judged[i]["beyond"].values()))
    worst, verdict = losses[k], judged[k]
    value = {"mean": mean, "std": spread, "worst": worst, "expected": start, "prior": prior_full,
             "decorrelated": verdict["decorrelated"], "noise": verdict["noise"]}  # fmt: skip
    threshold = f"within {tol:.0%} of {start:.4g} + noise"  # noise: 3 standard errors of the difference
    shown = f"{mean:.4g} (expected {start:.4g})"
    starts_at = ctx.task.describe_constant(from_prior)
    if not math.isfinite(worst) or verdict["beyond"]["confident"] > 0:
        return Result(
            "fail",
            value,
            threshold,
            f"untrained loss {mean:.4g} +- {spread:.2g} over {inits} inits, above the {start:.4g} of predicting "
            f"{starts_at} (outputs decoupled from the targets: {verdict['decorrelated']:.4g}). Too confident at init: "
            "outputs too large (init scale, a scaled output layer)",
            "check the init (model.init=auto: He/Xavier with a small last layer) and any scaling of the outputs",
            shown=shown,
            details={"losses": losses},
        )
    if verdict["beyond"]["good"] > 0:
        return Result(
            "fail",
            value,
            threshold,
            f"untrained loss {mean:.4g} +- {spread:.2g} over {inits} inits, below the {start:.4g} of predicting "
            f"{starts_at} by more than outputs this small can reach by chance. Too good at init: does the model see "
            "the labels?",
            "look for label leakage into the inputs",
            shown=shown,
            details={"losses": losses},
        )
    if not from_prior and not balanced(ctx) and start > prior * (1 + tol) + 1e-8:
        return Result(
            "warn",
            value,
            threshold,
            f"the untrained model predicts about 0, whose loss {start:.4g} is {start / max(prior, 1e-12):.3g}x the loss "
            f"{prior:.4g} of predicting the {ctx.task.prior_name}: the first steps go into learning the bias",
            "set model.output_bias_from_prior=true (starts the output bias at the prior)",
            shown=shown,
            details={"losses": losses},
        )
    return Result(
        "pass",
        value,
        threshold,
        f"untrained loss {mean:.4g} +- {spread:.2g} over {inits} inits; predicting {starts_at} scores {start:.4g}",
        shown=shown,
        details={"losses": losses},
    )


def _judge_init(task, out: torch.Tensor, constant: torch.Tensor, y: torch.Tensor, start: float, tol: float, seed: int):
    """How far one untrained net's loss lies beyond what a clean one reaches.

    Its loss differs from the constant's by the outputs' size and by how they happen to line up
    with the targets. The second is no bug: a random ReLU net of one standardized date is V-shaped
    and lines up with a year's temperatures in every init (10-15% of the loss). So "too
    confident" is judged with the outputs shuffled against the targets (size alone), and "too
    good" only below what outputs this small can reach at all (Cauchy-Schwarz on the first-order
    term: sqrt(mean |dloss/dout|^2 * mean |out - constant|^2)); both beyond the tolerance by more
    than three standard errors of the mean per-example difference."""
    constant = constant.to(out.dtype)
    shuffled = out[torch.randperm(len(out), generator=torch.Generator().manual_seed(seed))]
    decorrelated = float(task.loss(shuffled, y))
    probe = constant.clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(task.per_example_loss(probe, y).sum(), probe)
    n = len(y)
    size = float((out - constant).reshape(n, -1).pow(2).sum(1).mean())
    reach = math.sqrt(float(grad.reshape(n, -1).pow(2).sum(1).mean()) * size)
    allowed = tol * max(abs(start), 1e-8)
    loss = float(task.loss(out, y))
    noise = {"confident": _noise(task, shuffled, constant, y), "good": _noise(task, out, constant, y)}
    return {
        "decorrelated": decorrelated,
        "noise": noise,
        "beyond": {
            "confident": decorrelated - start - allowed - noise["confident"],
            "good": start - loss - allowed - reach - noise["good"],
        },
    }


def _noise(task, out: torch.Tensor, constant: torch.Tensor, y: torch.Tensor) -> float:
    """Three standard errors of the mean per-example loss difference between outputs and the constant."""
    diff = (task.per_example_loss(out, y) - task.per_example_loss(constant, y)).reshape(len(y), -1).mean(1)
    return float(3 * diff.std() / math.sqrt(len(y))) if len(y) > 1 and torch.isfinite(diff).all() else 0.0


def balanced(ctx) -> bool:
    """With a remedy for imbalance on, the classes weigh (or come) evenly: uniform is the right start."""
    return ctx.imbalance != "none"


def starts_at_prior(ctx, model) -> bool:
    """Whether the untrained model's output bias sits at the prior (TaskModule.prepare's rule)."""
    hparams = getattr(model, "hparams", {})
    return bool(hparams.get("output_bias_from_prior")) and (hparams.get("imbalance") or "none") == "none"


def _loss_fn(ctx, net, x, y):
    """The task's loss; it computes in the output's dtype (float64 here) throughout."""
    return lambda: ctx.task.loss(net(x), y)


# long: a check reads top to bottom: the float64 set-up, the measure (_gradient_errors), three verdicts and their messages
@check("model.gradient", needs=NEEDS)
def gradient(ctx, opts) -> Result:
    """Analytic vs centered-difference gradients in float64 on a sample of every parameter tensor."""
    n, per_tensor, h = int(opts.get("examples", 4)), int(opts.get("entries", 6)), float(opts.get("eps", 1e-5))
    good, ok, bad = float(opts.get("good", 1e-7)), float(opts.get("acceptable", 1e-4)), float(opts.get("fail", 1e-2))
    net = copy.deepcopy(ctx.make_model().net).double().eval()  # eval: dropout off, batch norm uses running stats
    x, y = ctx.batch("train", n)
    x = x.double()
    y = y.double() if y.is_floating_point() else y
    loss = _loss_fn(ctx, net, x, y)
    params = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    net.zero_grad()
    value0 = loss()
    value0.backward()
    noise = 1e-14 * max(1.0, abs(value0.item())) / h  # rounding error of the numeric gradient
    errors, worst_at, kinks = _gradient_errors(loss, params, per_tensor, h, noise, good, ctx.seed)
    worst_name = max(errors, key=errors.get) if errors else None
    worst = errors.get(worst_name, 0.0)
    threshold = f"ok<={ok:g}, fail>{bad:g}"
    shown = f"max rel err {worst:.1e}" + (f" ({worst_name})" if worst > ok else "")
    details = {
        "relative_error": errors,
        "worst_entries": worst_at,
        "examples": len(x),
        "entries_per_tensor": per_tensor,
    }
    sampled = f"{len(params)} tensors, {per_tensor} entries each, {len(x)} examples, float64, eval mode" + (
        f", {kinks} entries re-measured with h/100" if kinks else ""
    )
    if not params:
        return Result(
            "warn", None, threshold, "the net has no trainable parameters", "check requires_grad", shown="no params"
        )
    wrong = {k: v for k, v in errors.items() if v > bad}
    if wrong:
        names = ", ".join(f"{k} ({v:.1e})" for k, v in sorted(wrong.items(), key=lambda kv: -kv[1])[:5])
        no_grad = [k for k, p in params if p.grad is None]
        return Result(
            "fail",
            worst,
            threshold,
            f"analytic and numeric gradients disagree for {len(wrong)} of {len(params)} tensors: {names}"
            + (f"; no gradient reaches {no_grad[:5]} although the loss depends on them" if no_grad else "")
            + f" [{sampled}]",
            "a custom backward() or a .detach()/no_grad() cuts or bends the gradient; fix it or use autograd's own ops",
            shown=shown,
            details=details,
        )
    if worst > ok:
        return Result(
            "warn",
            worst,
            threshold,
            f"relative error {worst:.1e} at {worst_name}: more than kinks (ReLU, max) explain [{sampled}]",
            "look at that layer's backward; rerun with another seed to rule out a kink",
            shown=shown,
            details=details,
        )
    quality = "good" if worst <= good else "acceptable (kinks, rounding)"
    return Result(
        "pass",
        worst,
        threshold,
        f"{quality}: worst relative error {worst:.1e} over {sampled}",
        shown=shown,
        details=details,
    )


@torch.no_grad()
def _gradient_errors(loss, params, per_tensor: int, h: float, noise: float, good: float, seed: int):
    """Per tensor, the worst relative error between the analytic gradient (in p.grad) and a centered
    difference, over `per_tensor` entries: (errors, the worst entry of each, entries re-measured at h/100)."""
    g = torch.Generator().manual_seed(seed)
    errors, worst_at, kinks = {}, {}, 0
    for name, p in params:
        grad = p.grad.detach().reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype)
        k = min(per_tensor, p.numel())
        # half the entries with the largest gradients, half at random among those not
        # negligible (rounding noise swamps the relative error of a tiny gradient)
        top = grad.abs().topk(max(k // 2, 1)).indices
        pool = (grad.abs() >= 1e-3 * grad.abs().max()).nonzero().reshape(-1) if grad.any() else torch.arange(p.numel())
        rand = pool[torch.randint(len(pool), (k - len(top),), generator=g)]
        err = 0.0
        for i in torch.cat([top, rand]).tolist():
            idx, ana = _unravel(i, p.shape), float(grad[i])
            num = _numeric(loss, p, idx, h)
            e = _relative(num, ana, noise)
            if e > good:  # a ReLU/max kink within h, or rounding: a 100x smaller step tells
                num2 = _numeric(loss, p, idx, h / 100)
                e2 = _relative(num2, ana, noise * 100)
                if e2 < e:
                    num, e, kinks = num2, e2, kinks + 1
            if e >= err:
                err, worst_at[name] = e, {"entry": i, "analytic": ana, "numeric": num}
        errors[name] = err
    return errors, worst_at, kinks


def _numeric(loss, p, idx, h: float) -> float:
    """Centered difference of the loss at one parameter entry."""
    old = float(p[idx])
    p[idx] = old + h
    plus = float(loss())
    p[idx] = old - h
    minus = float(loss())
    p[idx] = old
    return (plus - minus) / (2 * h)


def _relative(num: float, ana: float, noise: float) -> float:
    """|num - ana| / max(|num|, |ana|); 0 when both are below the rounding noise, inf for NaN/Inf."""
    if not (math.isfinite(num) and math.isfinite(ana)):
        return math.inf
    scale = max(abs(num), abs(ana))
    return 0.0 if scale <= noise else abs(num - ana) / scale


def _unravel(i: int, shape) -> tuple:
    idx = []
    for size in reversed(shape):
        idx.append(i % size)
        i //= size
    return tuple(reversed(idx))


@check("model.batch_independence", needs=NEEDS)
def batch_independence(ctx, opts) -> Result:
    """d output_i / d input_j = 0 for j != i in eval mode (catches reshapes that mix the batch)."""
    n = max(int(opts.get("examples", 4)), 2)
    net = ctx.make_model().net.eval()
    x, _ = ctx.batch("train", n)
    n = len(x)
    x = x.clone().requires_grad_(True)
    out = net(x).reshape(n, -1)
    g = torch.Generator().manual_seed(ctx.seed)
    leaks, blind = {}, []
    for i in sorted({0, n // 2, n - 1}):
        weights = torch.randn(out.shape[1], generator=g)
        (grad,) = torch.autograd.grad((out[i] * weights).sum(), x, retain_graph=True, allow_unused=True)
        grad = torch.zeros_like(x) if grad is None else grad.reshape(n, -1).abs()
        others = torch.cat([grad[:i], grad[i + 1 :]]).max() if n > 1 else torch.tensor(0.0)
        if others > 0:
            leaks[i] = float(others)
        if grad[i].max() == 0:
            blind.append(i)
    value = {"max_cross_gradient": max(leaks.values(), default=0.0), "blind_examples": len(blind)}
    if leaks:
        return Result(
            "fail",
            value,
            "0 for j != i",
            f"the output of example(s) {sorted(leaks)} depends on other examples' inputs (|grad| up to "
            f"{max(leaks.values()):.2g}) in eval mode",
            "a view/reshape/transpose mixes the batch dimension (e.g. x.view(C, B, ...) instead of x.view(B, C, ...)); "
            "keep dim 0 the batch throughout",
            shown=f"cross grad {max(leaks.values()):.2g}",
        )
    if blind:
        return Result(
            "fail",
            value,
            "d out_i/d x_i != 0",
            f"the output of example(s) {blind} does not depend on its own input at all",
            "the forward pass ignores or overwrites its input (zeros, .detach(), a constant)",
            shown="ignores input",
        )
    return Result(
        "pass",
        value,
        "0 for j != i",
        f"each of {n} examples' outputs depends on its own input only (eval mode)",
        shown="0 cross grad",
    )


@check("model.all_params_learn", needs=NEEDS)
def all_params_learn(ctx, opts) -> Result:
    """After one optimizer step (regularization off) every trainable parameter changed and is finite.
    With model.freeze_epochs > 0, first one step as fine-tuning starts it (finetune.FreezeBackbone):
    only the output layer may move; then the unfrozen net, where every parameter must learn."""
    model = ctx.make_model()
    net = model.net.train()
    x, y = ctx.batch("train", ctx.dm.batch_size)
    freeze_epochs = int(getattr(model, "hparams", {}).get("freeze_epochs", 0) or 0)
    frozen_note = None
    if freeze_epochs > 0:
        failed, frozen_note = _one_frozen_step(ctx, model, net, x, y, freeze_epochs)
        if failed:
            return failed
    opt = ctx.optimizer(model)
    named = list(net.named_parameters())
    before = {name: p.detach().clone() for name, p in named}
    opt.zero_grad()
    ctx.task.loss(net(x), y).backward()
    opt.step()
    frozen = [name for name, p in named if not p.requires_grad]
    trainable = [(name, p) for name, p in named if p.requires_grad]
    unchanged = [name for name, p in trainable if torch.equal(p.detach(), before[name])]
    nonfinite = [name for name, p in named if not torch.isfinite(p).all()]
    value = {"learned": len(trainable) - len(unchanged), "trainable": len(trainable), "frozen": len(frozen)}
    shown = f"{len(trainable) - len(unchanged)}/{len(trainable)} changed"
    threshold = "all change, finite"
    if unchanged or nonfinite:
        return _did_not_learn(ctx, trainable, unchanged, nonfinite, frozen, value, threshold, shown)
    if frozen:
        return Result(
            "warn",
            value,
            threshold,
            f"{len(frozen)} tensors are frozen (requires_grad=False) and will not train: {frozen[:6]}",
            "fine when intended (a frozen pretrained backbone); otherwise set requires_grad=True",
            shown=shown,
            details={"frozen": frozen},
        )
    message = f"all {len(trainable)} trainable tensors changed after one step and are finite"
    return Result("pass", value, threshold, (frozen_note or "") + message, shown=shown)


def _one_frozen_step(ctx, model, net, x, y, freeze_epochs: int) -> tuple[Result | None, str | None]:
    """One step as fine-tuning starts it (the backbone frozen, as FreezeBackbone does), then the
    net made trainable again: (a failed Result, None), or (None, what the pass message says)."""
    from ..model.finetune import FreezeBackbone, split_head

    head_name, head, backbone = split_head(net, x)
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    start = {name: p.detach().clone() for name, p in net.named_parameters()}
    FreezeBackbone.freeze(backbone, train_bn=False)  # as the callback does before training
    factory = model.optimizer_factory
    no_decay = {"weight_decay": 0.0} if "weight_decay" in getattr(factory, "keywords", {}) else {}
    head_opt = factory(params=[p for p in net.parameters() if p.requires_grad], **no_decay)
    head_opt.zero_grad()
    ctx.task.loss(net(x), y).backward()
    head_opt.step()
    FreezeBackbone.make_trainable(backbone)  # and as it does at epoch freeze_epochs
    moved = [n for n, p in net.named_parameters() if id(p) not in head_ids and not torch.equal(p.detach(), start[n])]
    stuck = [n for n, p in net.named_parameters() if id(p) in head_ids and torch.equal(p.detach(), start[n])]
    net.zero_grad(set_to_none=True)
    if moved or stuck or head is None:
        problem = (
            f"the backbone moved while frozen: {moved[:6]}"
            if moved
            else f"the output layer {head_name} did not change: {stuck}"
            if stuck
            else "no output layer found to train alone"
        )
        return Result(
            "fail",
            {"moved_while_frozen": moved, "head_unchanged": stuck},
            "frozen: only the output layer changes",
            f"one step with the backbone frozen (model.freeze_epochs={freeze_epochs}): {problem}",
            "the output layer must reach the loss; frozen parameters must not be stepped (requires_grad=False)",
            details={"moved_while_frozen": moved, "head_unchanged": stuck},
        ), None
    note = (
        f"the backbone is frozen for the first {freeze_epochs} epochs by model.freeze_epochs (intended), and one "
        f"step moved only the output layer {head_name}; unfrozen, "
    )
    return None, note


def _did_not_learn(ctx, trainable, unchanged, nonfinite, frozen, value, threshold, shown) -> Result:
    """The fail of all_params_learn, with each likely cause named."""
    no_grad = [name for name, p in trainable if p.grad is None]
    zero_grad = [name for name, p in trainable if p.grad is not None and not p.grad.any()]
    causes = []
    if no_grad:
        causes.append(f"no gradient reaches {no_grad[:6]} (unused in forward, or cut by .detach()/torch.no_grad())")
    if zero_grad:
        causes.append(f"zero gradient for {zero_grad[:6]} (dead units, or an input that is always 0)")
    if ctx.lr == 0:
        causes.append("the learning rate is 0 (optimizer.lr=0)")
    if nonfinite:
        causes.append(
            f"non-finite values in {nonfinite[:6]} after the step (learning rate far too high, or NaN gradients)"
        )
    rest = [n for n in unchanged if n not in no_grad + zero_grad]
    if rest and ctx.lr != 0:
        causes.append(f"{rest[:6]} got a gradient but the optimizer did not move them (not passed to the optimizer?)")
    return Result(
        "fail",
        value,
        threshold,
        f"{len(unchanged)} of {len(trainable)} trainable tensors did not change after one step: {unchanged[:6]}. "
        + "; ".join(causes),
        "make every parameter reach the loss, give the optimizer all parameters and a positive lr",
        shown=shown,
        details={"unchanged": unchanged, "no_grad": no_grad, "nonfinite": nonfinite, "frozen": frozen},
    )
