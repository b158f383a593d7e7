"""Keras 3's activations as the cells' math sees them. Keras 3's
``hard_sigmoid`` is ``relu6(x + 3) / 6`` (slope 1/6), not Keras 2's
``clip(0.2 x + 0.5, 0, 1)``; tfrnn.keras3 follows Keras 3, and offers Keras
2's as ``keras2_hard_sigmoid`` (what models rebuilt from old files use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
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


@keras.saving.register_keras_serializable(package="tfrnn", name="keras2_hard_sigmoid")
def keras2_hard_sigmoid(x: Any) -> tf.Tensor:
    """Keras 2's (and tf_keras's) ``hard_sigmoid``: ``clip(0.2 x + 0.5, 0, 1)``.

    Pass it as ``activation`` / ``recurrent_activation`` for the numbers a
    Keras 2 model with ``"hard_sigmoid"`` gave; a ``.keras`` file names it
    ``tfrnn>keras2_hard_sigmoid`` and loads it after ``import tfrnn.keras3``.
    """
    x = tf.convert_to_tensor(x)
    y = tf.add(tf.multiply(x, tf.constant(0.2, x.dtype)), tf.constant(0.5, x.dtype))
    return tf.clip_by_value(y, tf.constant(0.0, x.dtype), tf.constant(1.0, x.dtype))


_KERAS3_ACTIVATIONS = (
    ((activations.tanh,), TANH, tanh_derivative),
    ((activations.sigmoid,), SIGMOID, sigmoid_derivative),
    ((activations.hard_sigmoid,), HARD_SIGMOID, hard_sigmoid_derivative(1.0 / 6.0)),
    ((keras2_hard_sigmoid,), HARD_SIGMOID, hard_sigmoid_derivative(0.2)),
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
