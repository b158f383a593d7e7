"""GRUCell: Cho et al. 2014, gates in tf_keras order z, r, h; both
``reset_after`` conventions (True: cuDNN's, reset applied after the matmul)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.cells.base import DenseGatedCell, StepFunctions, dropout_masks, get_activation
from tfrnn.cells.lstm import check_implementation, masked_projection


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
        input_bias = recurrent_bias = None
        if bias is not None:
            if self.reset_after:
                input_bias, recurrent_bias = tf.unstack(bias)
            else:
                input_bias = bias
        activation, recurrent_activation = self.activation, self.recurrent_activation
        units = self.units

        def project(inputs):
            return masked_projection(inputs, kernel, input_bias, input_masks, 3)

        def recurrent_masked(h, index):
            if recurrent_masks is None:
                return h
            return h * recurrent_masks[index if len(recurrent_masks) > 1 else 0]

        if self.reset_after:

            def step(x, states):
                h = states[0]
                if recurrent_masks is None or len(recurrent_masks) == 1:
                    inner = tf.matmul(recurrent_masked(h, 0), recurrent_kernel)
                else:
                    inner = tf.concat(
                        [
                            tf.matmul(recurrent_masked(h, g), k)
                            for g, k in enumerate(tf.split(recurrent_kernel, 3, axis=1))
                        ],
                        axis=-1,
                    )
                if recurrent_bias is not None:
                    inner = tf.nn.bias_add(inner, recurrent_bias)
                x_z, x_r, x_h = tf.split(x, 3, axis=-1)
                r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
                z = recurrent_activation(x_z + r_z)
                r = recurrent_activation(x_r + r_r)
                candidate = activation(x_h + r * r_h)
                h = z * h + (1.0 - z) * candidate
                return h, [h]

        else:
            kernel_zr = recurrent_kernel[:, : 2 * units]
            kernel_h = recurrent_kernel[:, 2 * units :]

            def step(x, states):
                h = states[0]
                x_z, x_r, x_h = tf.split(x, 3, axis=-1)
                if recurrent_masks is None or len(recurrent_masks) == 1:
                    r_z, r_r = tf.split(tf.matmul(recurrent_masked(h, 0), kernel_zr), 2, axis=-1)
                else:
                    r_z = tf.matmul(recurrent_masked(h, 0), kernel_zr[:, :units])
                    r_r = tf.matmul(recurrent_masked(h, 1), kernel_zr[:, units:])
                z = recurrent_activation(x_z + r_z)
                r = recurrent_activation(x_r + r_r)
                candidate = activation(x_h + tf.matmul(r * recurrent_masked(h, 2), kernel_h))
                h = z * h + (1.0 - z) * candidate
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
