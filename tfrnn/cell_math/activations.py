"""Activations as the cells' math sees them: the function, its kind and the
derivative its output gives (for the engine's hand-written gradient)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

#: the kinds the engine knows; cuDNN runs only ``TANH`` with ``SIGMOID`` gates
TANH = "tanh"
SIGMOID = "sigmoid"
HARD_SIGMOID = "hard_sigmoid"
RELU = "relu"
LINEAR = "linear"


@dataclass(frozen=True)
class Activation:
    """An activation ``y = fn(x)``.

    ``kind`` names a function the engine knows (``TANH``, ...; None for any
    other); ``derivative`` maps the output ``y`` to ``fn'(x)``, or is None
    when the output does not give it (the step then keeps automatic
    gradients). Each Keras resolves its own activation names into these:
    tf_keras's ``hard_sigmoid`` and Keras 3's are different functions.
    """

    fn: Callable[[tf.Tensor], tf.Tensor]
    kind: str | None = None
    derivative: Callable[[tf.Tensor], tf.Tensor] | None = None

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return self.fn(x)


def tanh_derivative(y: tf.Tensor) -> tf.Tensor:
    return 1.0 - y * y


def sigmoid_derivative(y: tf.Tensor) -> tf.Tensor:
    return y * (1.0 - y)


def hard_sigmoid_derivative(slope: float) -> Callable[[tf.Tensor], tf.Tensor]:
    """The derivative of a hard sigmoid ``clip(slope * x + 0.5, 0, 1)``:
    ``slope`` inside (0, 1), 0 where clipped. Keras 2's slope is 0.2, Keras 3's 1/6."""

    def derivative(y: tf.Tensor) -> tf.Tensor:
        inside = tf.logical_and(y > 0.0, y < 1.0)
        return tf.where(inside, tf.constant(slope, y.dtype), tf.zeros_like(y))

    return derivative


def relu_derivative(y: tf.Tensor) -> tf.Tensor:
    return tf.cast(y > 0.0, y.dtype)


def linear_derivative(y: tf.Tensor) -> tf.Tensor:
    return tf.ones_like(y)


def lookup_activation(
    layer_name: str, identifier: Any, what: str, get: Callable[[Any], Callable], keras: str
) -> Callable:
    """``get(identifier)`` (a Keras's ``activations.get``), or a ValueError
    naming the layer, the argument and ``keras``'s activation names."""
    try:
        return get(identifier)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"Layer '{layer_name}': unknown `{what}` {identifier!r}. Use a {keras} "
            "activation name such as 'tanh', 'sigmoid', 'hard_sigmoid', 'relu' or "
            "'linear', or a callable."
        ) from err


def classify(
    fn: Callable, known: tuple[tuple[tuple[Callable, ...], str, Callable], ...]
) -> Activation:
    """``fn`` as an Activation: the first row of ``known`` (functions, kind,
    derivative) that lists ``fn`` itself gives its kind and derivative."""
    for functions, kind, derivative in known:
        if any(fn is f for f in functions):
            return Activation(fn, kind, derivative)
    return Activation(fn)


#: TensorFlow's own functions, which either Keras's activation lookup may return
TF_FUNCTIONS = (
    ((tf.tanh, tf.math.tanh, tf.nn.tanh), TANH, tanh_derivative),
    ((tf.sigmoid, tf.math.sigmoid, tf.nn.sigmoid), SIGMOID, sigmoid_derivative),
    ((tf.nn.relu,), RELU, relu_derivative),
)
