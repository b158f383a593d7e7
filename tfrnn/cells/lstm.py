"""LSTMCell: Hochreiter & Schmidhuber 1997, gates in tf_keras order i, f, c, o."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras
from tf_keras import initializers

from tfrnn.cells.base import (
    DenseGatedCell,
    StepFunctions,
    dropout_masks,
    get_activation,
    project_dense,
)


def check_implementation(layer_name: str, implementation: Any) -> int:
    """1 or 2; 0 is the Keras 2.0 spelling of 1."""
    if implementation == 0:
        return 1
    if implementation not in (1, 2):
        raise ValueError(
            f"Layer '{layer_name}': `implementation` must be 1 or 2 (0 is read as 1), "
            f"got {implementation!r}."
        )
    return int(implementation)


def gates_ifco_to_ifoc(weights: tf.Tensor, units: int) -> tf.Tensor:
    """Reorder the gate blocks of the last axis from Keras's i, f, c, o to
    i, f, o, c, so the three sigmoid gates are one contiguous slab and take
    one activation op per step instead of three."""
    i, f, c, o = tf.split(weights, [units] * 4, axis=-1)
    return tf.concat([i, f, o, c], axis=-1)


def masked_projection(inputs, kernel, bias, masks, gates):
    """Input projection with per-gate (or one shared) dropout masks applied."""
    if masks is None:
        return project_dense(inputs, kernel, bias)
    if len(masks) == 1:
        return project_dense(inputs * masks[0], kernel, bias)
    parts = [
        project_dense(inputs * mask, k, None)
        for mask, k in zip(masks, tf.split(kernel, gates, axis=1))
    ]
    out = tf.concat(parts, axis=-1)
    return out if bias is None else tf.nn.bias_add(out, bias)


def recurrent_product(state, recurrent_kernel, masks, gates):
    """``state @ recurrent_kernel`` with per-gate (or one) recurrent dropout masks."""
    if masks is None:
        return tf.matmul(state, recurrent_kernel)
    if len(masks) == 1:
        return tf.matmul(state * masks[0], recurrent_kernel)
    return tf.concat(
        [
            tf.matmul(state * m, k)
            for m, k in zip(masks, tf.split(recurrent_kernel, gates, axis=1))
        ],
        axis=-1,
    )


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class LSTMCell(DenseGatedCell):
    """Cell class for the LSTM layer (tf_keras's arguments and weights)."""

    gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            **kwargs,
        )
        self.recurrent_activation = get_activation(
            self.name, recurrent_activation, "recurrent_activation"
        )
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = check_implementation(self.name, implementation)

    @property
    def state_size(self):
        return [self.units, self.units]

    def bias_initializer_for_build(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            return tf.concat(
                [
                    base((units,), *args, **kwargs),
                    initializers.get("ones")((units,), *args, **kwargs),
                    base((units * 2,), *args, **kwargs),
                ],
                axis=0,
            )

        return forget_bias_one

    def step_functions(self, step_sample, training=None) -> StepFunctions:
        count = 4 if self.implementation == 1 else 1
        input_masks = dropout_masks(step_sample, self.dropout, count, training)
        units = self.units
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            batch = tf.shape(step_sample)[0]
            recurrent_masks = dropout_masks(
                tf.zeros([batch, units], step_sample.dtype),
                self.recurrent_dropout,
                count,
                training,
            )
        kernel, recurrent_kernel, bias = (
            None if w is None else gates_ifco_to_ifoc(w, units) for w in self.weight_tensors()
        )
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def project(inputs):
            return masked_projection(inputs, kernel, bias, input_masks, 4)

        def step(z_input, states):
            h, c = states[0], states[1]
            z = z_input + recurrent_product(h, recurrent_kernel, recurrent_masks, 4)
            gates, candidate = tf.split(z, [3 * units, units], axis=-1)
            i, f, o = tf.split(recurrent_activation(gates), 3, axis=-1)
            c = f * c + i * activation(candidate)
            h = o * activation(c)
            return h, [h, c]

        return StepFunctions(project, step)

    def get_config(self):
        config = super().get_config()
        config.update(
            recurrent_activation=tf_keras.activations.serialize(self.recurrent_activation),
            unit_forget_bias=self.unit_forget_bias,
            implementation=self.implementation,
        )
        return config
