"""GRUCell: Cho et al. 2014, gates in tf_keras order z, r, h; both
``reset_after`` conventions (True: cuDNN's, reset applied after the matmul)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.cells.base import DenseGatedCell, StepFunctions, dropout_masks, get_activation
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
        count = 3 if self.implementation == 1 else 1
        input_masks = dropout_masks(step_sample, self.dropout, count, training)
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            zeros = tf.zeros([tf.shape(step_sample)[0], self.units], step_sample.dtype)
            recurrent_masks = dropout_masks(zeros, self.recurrent_dropout, count, training)
        kernel, recurrent_kernel, bias = self.weight_tensors()
        units = self.units
        projection_bias = candidate_bias = None
        if bias is not None and self.reset_after:
            input_bias, recurrent_bias = tf.unstack(bias)
            # z and r add both biases before their activation: fold the
            # recurrent ones into the hoisted projection.
            zero = tf.zeros([units], recurrent_bias.dtype)
            projection_bias = input_bias + tf.concat([recurrent_bias[: 2 * units], zero], 0)
            candidate_bias = recurrent_bias[2 * units :]
        elif bias is not None:
            projection_bias = bias
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def project(inputs):
            x = masked_projection(inputs, kernel, projection_bias, input_masks, 3)
            return tuple(tf.split(x, [2 * units, units], axis=-1))

        if self.reset_after:

            def step(x, states):
                (x_zr, x_h), h = x, states[0]
                inner = recurrent_product(h, recurrent_kernel, recurrent_masks, 3)
                inner_zr, inner_h = tf.split(inner, [2 * units, units], axis=-1)
                if candidate_bias is not None:
                    inner_h = inner_h + candidate_bias
                z, r = tf.split(recurrent_activation(x_zr + inner_zr), 2, axis=-1)
                candidate = activation(x_h + r * inner_h)
                h = candidate + z * (h - candidate)
                return h, [h]

        else:
            kernel_zr = recurrent_kernel[:, : 2 * units]
            kernel_h = recurrent_kernel[:, 2 * units :]
            zr_masks = None if recurrent_masks is None else recurrent_masks[:2]
            h_mask = None if recurrent_masks is None else recurrent_masks[-1]

            def step(x, states):
                (x_zr, x_h), h = x, states[0]
                inner_zr = recurrent_product(h, kernel_zr, zr_masks, 2)
                z, r = tf.split(recurrent_activation(x_zr + inner_zr), 2, axis=-1)
                reset_h = r * h if h_mask is None else r * (h * h_mask)
                candidate = activation(x_h + tf.matmul(reset_h, kernel_h))
                h = candidate + z * (h - candidate)
                return h, [h]

        return StepFunctions(project, step)

    def get_config(self):
        config = super().get_config()
        config.update(
            recurrent_activation=tf_keras.activations.serialize(self.recurrent_activation),
            reset_after=self.reset_after,
            implementation=self.implementation,
        )
        return config
