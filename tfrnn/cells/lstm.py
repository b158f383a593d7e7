"""LSTMCell: Hochreiter & Schmidhuber 1997, gates in tf_keras order i, f, c, o."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras
from tf_keras import initializers

from tfrnn.cells.base import (
    DenseGatedCell,
    StepFunctions,
    derivative_from_output,
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
        count = self.dropout_mask_count()
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
        kernel, recurrent_kernel, bias = self.weight_tensors()
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def project(inputs):
            """The i, f, candidate and o parts of the input projection."""
            return tuple(tf.split(masked_projection(inputs, kernel, bias, input_masks, 4), 4, -1))

        def step(x, states):
            h, c = states[0], states[1]
            inner = recurrent_product(h, recurrent_kernel, recurrent_masks, 4)
            i, f, candidate, o = (a + b for a, b in zip(x, tf.split(inner, 4, axis=-1)))
            c = recurrent_activation(f) * c + recurrent_activation(i) * activation(candidate)
            h = recurrent_activation(o) * activation(c)
            return h, [h, c]

        fused = self.fused_cell((kernel, bias, recurrent_kernel), input_masks, recurrent_masks)
        return StepFunctions(project, step, fused)

    def fused_step(self) -> dict | None:
        """The step for the engine's hand-written gradient, when the
        activations' derivatives follow from their outputs."""
        grad = derivative_from_output(self.activation)
        recurrent_grad = derivative_from_output(self.recurrent_activation)
        if grad is None or recurrent_grad is None:
            return None
        activation, recurrent_activation = self.activation, self.recurrent_activation
        units = self.units

        def forward(x, product, states, params):
            i, f, candidate, o = (a + b for a, b in zip(x, tf.split(product, 4, axis=-1)))
            i, f, o = recurrent_activation(i), recurrent_activation(f), recurrent_activation(o)
            candidate = activation(candidate)
            c = f * states[1] + i * candidate
            activated_c = activation(c)
            h = o * activated_c
            # d(pre-activations of i, f, candidate) / d(c), of o / d(h), d(c) / d(h)
            by_c = [
                candidate * recurrent_grad(i),
                states[1] * recurrent_grad(f),
                i * grad(candidate),
            ]
            by_h = activated_c * recurrent_grad(o)
            return h, [h, c], [*by_c, by_h, o * grad(activated_c), f]

        def backward(saved, params, d_h, d_states):
            i_by_c, f_by_c, candidate_by_c, o_by_h, c_by_h, f = saved
            d_h = d_h + d_states[0]
            d_c = d_states[1] + d_h * c_by_h
            d_x = tf.concat([d_c * i_by_c, d_c * f_by_c, d_c * candidate_by_c, d_h * o_by_h], -1)
            return d_x, None, [None, d_c * f]

        return dict(forward=forward, backward=backward, saved_sizes=[units] * 6)

    def get_config(self):
        config = super().get_config()
        config.update(
            recurrent_activation=tf_keras.activations.serialize(self.recurrent_activation),
            unit_forget_bias=self.unit_forget_bias,
            implementation=self.implementation,
        )
        return config
