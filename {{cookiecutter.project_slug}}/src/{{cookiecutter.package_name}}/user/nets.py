"""YOUR networks (this file is yours to edit; these two are examples). Any torch.nn.Module
works: point `model.net._target_` (configs/model/*.yaml) at yours.

A net maps a batch [B, *input_shape] to raw outputs [B, num_outputs] (logits for
classification: no softmax/sigmoid at the end, the loss applies it). A net whose config
says `input_shape: auto` / `num_outputs: auto` gets them from the data. The recipe
initializes it by its activations (model/initialization.py; model.init=none keeps your own).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..common import ConfigError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"activation {name!r} is not known; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    def __init__(
        self, input_shape, num_outputs: int, hidden=(256, 128), activation="relu", dropout=0.0, batch_norm=False
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers.append(nn.Linear(width, h, bias=not batch_norm))  # batch norm has its own bias
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class CNN(nn.Module):
    """Small conv net for [C, H, W] images: conv blocks, global average pool, linear head."""

    def __init__(
        self,
        input_shape,
        num_outputs: int,
        channels=(32, 64),
        hidden=128,
        activation="relu",
        dropout=0.0,
        batch_norm=False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = input_shape[0]
        for c in channels:
            layers.append(nn.Conv2d(c_in, c, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers.append(_activation(activation))
            c_in = c
        layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c_in * 4, hidden), _activation(activation)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(hidden, num_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
