"""Initialization chosen from the net's activations (M17), and the net's output layer found
by data flow. The recipe's: user/nets.py (yours) does not need to know about it."""

from __future__ import annotations

import torch
from torch import nn

WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def init_by_activation(net: nn.Module) -> str:
    """He init for ReLU-family nets, Xavier/Glorot for tanh/sigmoid (M17); returns which.
    The output layer is made small later, by init_output_layer, once an input shows which it is."""
    kinds = {type(m) for m in net.modules()}
    scheme = (
        "xavier" if kinds & {nn.Tanh, nn.Sigmoid} and not kinds & {nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU} else "he"
    )
    for m in net.modules():
        if isinstance(m, WEIGHTED):
            if scheme == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("tanh"))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return scheme


def init_output_layer(layer: nn.Module | None) -> None:
    """Small output weights: the untrained model predicts close to its bias (uniform, or the
    prior), so its loss starts where the initial-loss check expects it."""
    if layer is not None:
        nn.init.xavier_normal_(layer.weight, gain=0.1)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


@torch.no_grad()
def run_order(net: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """(name, module) of the net's leaf modules in the order one forward pass of x runs them.

    Registration order says nothing: a net may define its head before its body, or hold
    modules it never calls. Run in eval mode, so batch norm statistics are not touched."""
    names = {m: name for name, m in net.named_modules()}
    ran: list[tuple[str, nn.Module]] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: ran.append((names[m], m)))
        for m in net.modules()
        if not list(m.children())
    ]
    was_training = net.training
    net.eval()
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    return ran


def output_layer(net: nn.Module, x: torch.Tensor) -> tuple[str, nn.Module] | tuple[None, None]:
    """(name, module) of the last Linear/Conv layer the forward pass of x runs: the layer whose
    weights start small, whose bias can start at the prior, and which transfer learning rebuilds."""
    weighted = [(name, m) for name, m in run_order(net, x) if isinstance(m, WEIGHTED)]
    return weighted[-1] if weighted else (None, None)


def last_module(net: nn.Module, x: torch.Tensor) -> nn.Module | None:
    """The last leaf module the forward pass runs (a final ReLU or Softmax is a mistake)."""
    ran = run_order(net, x)
    return ran[-1][1] if ran else None
