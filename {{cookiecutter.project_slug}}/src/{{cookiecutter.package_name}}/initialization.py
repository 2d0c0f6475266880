"""Initialization chosen from the net's activations (M17), and the output layer whose bias
can start at the class prior. The recipe's: nets.py (yours) does not need to know about it."""

from __future__ import annotations

from torch import nn


def init_by_activation(net: nn.Module) -> str:
    """He init for ReLU-family nets, Xavier/Glorot for tanh/sigmoid (M17); returns which.

    The last layer is made small so that the untrained model predicts close to uniform
    and its loss starts near ln(C), the value the initial-loss check expects.
    """
    kinds = {type(m) for m in net.modules()}
    scheme = "xavier" if kinds & {nn.Tanh, nn.Sigmoid} and not kinds & {nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU} else "he"
    weighted = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    for m in weighted:
        if scheme == "he":
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        else:
            nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain("tanh"))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    if weighted:
        nn.init.xavier_normal_(weighted[-1].weight, gain=0.1)
    return scheme


def output_layer(net: nn.Module) -> nn.Module | None:
    """The last Linear/Conv layer: the one whose bias can be set to the class prior."""
    weighted = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    return weighted[-1] if weighted else None
