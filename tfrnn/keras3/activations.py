"""Keras 3's activations as the cells' math sees them. Keras 3's
``hard_sigmoid`` is ``relu6(x + 3) / 6`` (slope 1/6), not Keras 2's
``clip(0.2 x + 0.5, 0, 1)``; tfrnn.keras3 follows Keras 3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import activations

from tfrnn.cell_math.activations import (
    HARD_SIGMOID,
    LINEAR,
    RELU,
    SIGMOID,
    TANH,
    TF_FUNCTIONS,
    Activation,
    classify,
    hard_sigmoid_derivative,
    linear_derivative,
    lookup_activation,
    relu_derivative,
    sigmoid_derivative,
    tanh_derivative,
)

_KERAS3_ACTIVATIONS = (
    ((activations.tanh,), TANH, tanh_derivative),
    ((activations.sigmoid,), SIGMOID, sigmoid_derivative),
    ((activations.hard_sigmoid,), HARD_SIGMOID, hard_sigmoid_derivative(1.0 / 6.0)),
    ((activations.relu,), RELU, relu_derivative),
    ((activations.linear,), LINEAR, linear_derivative),
    *TF_FUNCTIONS,
)


def keras3_activation(fn: Callable) -> Activation:
    """A Keras 3 activation function as the cells' math sees it."""
    return classify(fn, _KERAS3_ACTIVATIONS)


def get_activation(layer_name: str, identifier: Any, what: str) -> Callable:
    """Keras 3's activation ``identifier``, or a ValueError naming the layer."""
    return lookup_activation(layer_name, identifier, what, activations.get, "Keras 3")
