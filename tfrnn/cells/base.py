"""What every tf_keras tfrnn cell shares: tf_keras's activations as the
cells' math sees them, the cell base class and the
constructor and config of the dense-gated cells. (The step protocol and the
math are Keras-free, in ``tfrnn.cell_math``.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tf_keras
from tf_keras import activations, constraints, initializers, regularizers

from tfrnn.argument_checks import check_rate, check_units
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
from tfrnn.cell_math.steps import EngineCell
from tfrnn.cells.dense_cells import DenseCellMixin
from tfrnn.two_kerases import refuse_keras3_arguments, refuse_keras3_caller


def keras2_activation(fn: Callable) -> Activation:
    """A tf_keras activation function as the cells' math sees it (its kind,
    and its derivative from its output where there is one: tanh, sigmoid,
    Keras 2's hard_sigmoid, relu, linear)."""
    return classify(fn, _TF_KERAS_ACTIVATIONS)


_TF_KERAS_ACTIVATIONS = (
    ((activations.tanh,), TANH, tanh_derivative),
    ((activations.sigmoid,), SIGMOID, sigmoid_derivative),
    ((activations.hard_sigmoid,), HARD_SIGMOID, hard_sigmoid_derivative(0.2)),
    ((activations.relu,), RELU, relu_derivative),
    ((activations.linear,), LINEAR, linear_derivative),
    *TF_FUNCTIONS,
)


def derivative_from_output(fn: Callable) -> Callable | None:
    """``y -> f'(x)`` for an activation ``y = f(x)`` whose derivative its
    output gives (tanh, sigmoid, Keras 2's hard_sigmoid, relu, linear);
    None for any other."""
    return keras2_activation(fn).derivative


def get_activation(layer_name: str, identifier: Any, what: str) -> Callable:
    """tf_keras's activation ``identifier``, or a ValueError naming the layer."""
    return lookup_activation(layer_name, identifier, what, activations.get, "tf_keras")


def _has_one_state(cell: Any) -> bool:
    return not isinstance(cell.state_size, (list, tuple))


class RecurrentCell(EngineCell, tf_keras.layers.Layer):
    """Base of tfrnn cells: a Keras cell (``call(inputs, states)``) that can
    also hand the engine its work split into projection and step."""

    def __init__(self, force_generator: bool = False, **kwargs: Any) -> None:
        """``force_generator`` is accepted (not serialized) as tf_keras's cells
        accept it: there it picks tf_keras's random-number generator, here
        dropout masks are drawn by ``tf.nn.dropout`` either way."""
        super().__init__(**kwargs)
        self.force_generator = bool(force_generator)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        refuse_keras3_arguments(self, inputs=args, **kwargs)
        return super().__call__(*args, **kwargs)

    def call(self, inputs, states, training=None):
        """One step. As in tf_keras, a cell with one state given it as a tensor
        (not a list) returns its new state as a tensor."""
        fns = self.step_functions(inputs, training)
        output, new_states = fns.step(fns.project(inputs), list(tf.nest.flatten(states)))
        if _has_one_state(self) and not tf.nest.is_nested(states):
            return output, new_states[0]
        return output, new_states

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states: a list, or one tensor for a cell with one state (tf_keras)."""
        if inputs is not None:
            batch_size = tf.shape(inputs)[0]
            dtype = inputs.dtype
        if dtype is None and batch_size is not None:
            refuse_keras3_caller(self, "get_initial_state was given `batch_size` alone")
        if batch_size is None or dtype is None:
            raise ValueError(
                f"Layer '{self.name}': get_initial_state needs `inputs`, or both "
                f"`batch_size` and `dtype`; got batch_size={batch_size}, dtype={dtype}."
            )
        sizes = [self.state_size] if _has_one_state(self) else self.state_size
        zeros = [
            tf.zeros(tf.concat([[batch_size], tf.TensorShape(s).as_list()], 0), dtype=dtype)
            for s in sizes
        ]
        return zeros[0] if _has_one_state(self) else zeros


class DenseGatedCell(DenseCellMixin, RecurrentCell):
    """Shared constructor and config of tf_keras's SimpleRNN/GRU/LSTM cells;
    their weights and math are ``DenseCellMixin``'s (both Kerases share them).

    A subclass mixes in its kind (``SimpleRNNCellMixin``, ...) first.
    """

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        enable_caching_device: bool = True,
        **kwargs: Any,
    ) -> None:
        """``enable_caching_device`` is accepted for tf_keras compatibility: the
        engine reads each weight once per sequence already."""
        super().__init__(**kwargs)
        self.enable_caching_device = bool(enable_caching_device)
        self.units = check_units(self.name, units)
        self.activation = get_activation(self.name, activation, "activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate(self.name, dropout, "dropout")
        self.recurrent_dropout = check_rate(self.name, recurrent_dropout, "recurrent_dropout")

    def math_activation(self, fn: Any) -> Activation:
        return keras2_activation(fn)

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        if not self.enable_caching_device:  # tf_keras writes only the non-default
            config["enable_caching_device"] = False
        return {**super().get_config(), **config}
