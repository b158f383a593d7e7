"""GRUCell: Cho et al. 2014, gates in tf_keras order z, r, h; both
``reset_after`` conventions (True: cuDNN's, reset applied after the matmul)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.cells.base import (
    DenseGatedCell,
    StepFunctions,
    derivative_from_output,
    dropout_masks,
    get_activation,
)
from tfrnn.cells.lstm import check_implementation, masked_projection, recurrent_product


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class GRUCell(DenseGatedCell):
    """Cell class for the GRU layer (tf_keras's arguments and weights)."""

    gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
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
        reset_after: bool = True,
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
        self.reset_after = bool(reset_after)
        self.implementation = check_implementation(self.name, implementation)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def step_functions(self, step_sample, training=None) -> StepFunctions:
        count = self.dropout_mask_count()
        input_masks = dropout_masks(step_sample, self.dropout, count, training)
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            zeros = tf.zeros([tf.shape(step_sample)[0], self.units], step_sample.dtype)
            recurrent_masks = dropout_masks(zeros, self.recurrent_dropout, count, training)
        kernel, recurrent_kernel, bias = self.weight_tensors()
        units = self.units
        input_bias = recurrent_bias = None
        if bias is not None and self.reset_after:
            input_bias, recurrent_bias = tf.unstack(bias)
        elif bias is not None:
            input_bias = bias
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def project(inputs):
            """The z, r and candidate parts of the input projection."""
            x = masked_projection(inputs, kernel, input_bias, input_masks, 3)
            return tuple(tf.split(x, 3, axis=-1))

        if self.reset_after:

            def step(x, states):
                (x_z, x_r, x_h), h = x, states[0]
                inner = recurrent_product(h, recurrent_kernel, recurrent_masks, 3)
                if recurrent_bias is not None:
                    inner = tf.nn.bias_add(inner, recurrent_bias)
                inner_z, inner_r, inner_h = tf.split(inner, 3, axis=-1)
                z = recurrent_activation(x_z + inner_z)
                r = recurrent_activation(x_r + inner_r)
                candidate = activation(x_h + r * inner_h)
                h = candidate + z * (h - candidate)
                return h, [h]

        else:
            kernel_zr = recurrent_kernel[:, : 2 * units]
            kernel_h = recurrent_kernel[:, 2 * units :]
            zr_masks = None if recurrent_masks is None else recurrent_masks[:2]
            h_mask = None if recurrent_masks is None else recurrent_masks[-1]

            def step(x, states):
                (x_z, x_r, x_h), h = x, states[0]
                inner_z, inner_r = tf.split(
                    recurrent_product(h, kernel_zr, zr_masks, 2), 2, axis=-1
                )
                z = recurrent_activation(x_z + inner_z)
                r = recurrent_activation(x_r + inner_r)
                reset_h = r * h if h_mask is None else r * (h * h_mask)
                candidate = activation(x_h + tf.matmul(reset_h, kernel_h))
                h = candidate + z * (h - candidate)
                return h, [h]

        fused = self.fused_cell(
            (kernel, input_bias, recurrent_kernel),
            input_masks,
            recurrent_masks,
            recurrent_bias=recurrent_bias,
        )
        return StepFunctions(project, step, fused)

    def fused_step(self, recurrent_bias=None) -> dict | None:
        """The reset-after step for the engine's hand-written gradient, when the
        activations' derivatives follow from their outputs. (With
        reset_after=False the reset gate acts before a second product; that
        step keeps automatic gradients.)"""
        grad = derivative_from_output(self.activation)
        recurrent_grad = derivative_from_output(self.recurrent_activation)
        if not self.reset_after or grad is None or recurrent_grad is None:
            return None
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def forward(x, product, states, params):
            x_z, x_r, x_h = x
            if params:
                product = tf.nn.bias_add(product, params[0])
            inner_z, inner_r, inner_h = tf.split(product, 3, axis=-1)
            z = recurrent_activation(x_z + inner_z)
            r = recurrent_activation(x_r + inner_r)
            candidate = activation(x_h + r * inner_h)
            h = candidate + z * (states[0] - candidate)
            # d(pre-activations of z, r, candidate) / d(h), side by side as
            # the kernel's gates are, and what each gate's gradient is
            # multiplied by on its way to the product (r for the candidate)
            candidate_by_h = (1.0 - z) * grad(candidate)
            z_by_h = (states[0] - candidate) * recurrent_grad(z)
            r_by_h = candidate_by_h * inner_h * recurrent_grad(r)
            gates_by_h = tf.concat([z_by_h, r_by_h, candidate_by_h], axis=-1)
            product_by_gates = tf.concat([tf.ones_like(z), tf.ones_like(r), r], axis=-1)
            return h, [h], [gates_by_h, product_by_gates, z]

        def backward(saved, params, d_h, d_states):
            gates_by_h, product_by_gates, z = saved
            d_h = d_h + d_states[0]
            d_gates = tf.tile(d_h, [1, 3]) * gates_by_h
            return d_gates, d_gates * product_by_gates, [d_h * z]

        def param_grads(d_product):
            return [tf.reduce_sum(d_product, axis=0)]

        units = self.units
        return dict(
            forward=forward,
            backward=backward,
            saved_sizes=[3 * units, 3 * units, units],
            params=[] if recurrent_bias is None else [recurrent_bias],
            param_grads=param_grads,
            product_grad_differs=True,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            recurrent_activation=tf_keras.activations.serialize(self.recurrent_activation),
            reset_after=self.reset_after,
            implementation=self.implementation,
        )
        return config
