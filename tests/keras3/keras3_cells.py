"""Keras 3 twins of tests/custom_cells.py's cells (same math, same weights)."""

import keras
import tensorflow as tf


class ConstantsCell(keras.Layer):
    """h = tanh(x W + h U + c V), as custom_cells.ConstantsCell, in Keras 3."""

    def __init__(self, units, constant_size=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.constant_size = constant_size
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel"
        )
        self.constant_kernel = self.add_weight(
            shape=(self.constant_size, self.units), name="constant_kernel"
        )

    def call(self, inputs, states, constants):
        h = tf.tanh(
            tf.matmul(inputs, self.kernel)
            + tf.matmul(states[0], self.recurrent_kernel)
            + tf.matmul(constants[0], self.constant_kernel)
        )
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "constant_size": self.constant_size}
