"""Custom cells the tests share (not registered with Keras)."""

import collections

import tensorflow as tf
import tf_keras


class ConstantsCell(tf_keras.layers.Layer):
    """A cell conditioned on external constants of ``constant_size`` features:
    h = tanh(x W + h U + c V)."""

    def __init__(self, units, constant_size=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.constant_size = constant_size
        self.state_size = units

    def build(self, input_shape):
        if isinstance(input_shape, list):  # [step input, constants] in some Keras versions
            input_shape = input_shape[0]
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


PairState = collections.namedtuple("PairState", ["vector", "matrix"])


class PairCell(tf_keras.layers.Layer):
    """A cell with nested inputs, outputs and states: a vector part
    ``(units,)`` and a matrix part ``(rows, cols)``. Its call returns the
    output as a list and the states as a ``PairState``; with
    ``named_states`` its state_size is a ``PairState`` too and it reads its
    states by field name."""

    def __init__(self, units, rows, cols, named_states=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.rows, self.cols = units, rows, cols
        self.named_states = named_states
        sizes = (units, tf.TensorShape([rows, cols]))
        self.state_size = PairState(*sizes) if named_states else sizes
        self.output_size = sizes

    def build(self, input_shape):
        vector_shape, matrix_shape = input_shape[0], input_shape[1]
        self.kernel = self.add_weight(shape=(vector_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel"
        )
        self.matrix_kernel = self.add_weight(
            shape=(*tuple(matrix_shape[1:]), self.rows, self.cols), name="matrix_kernel"
        )

    def call(self, inputs, states):
        vector, matrix = inputs[0], inputs[1]
        if self.named_states:
            state_vector, state_matrix = states.vector, states.matrix
        else:
            state_vector, state_matrix = states
        out_vector = tf.tanh(
            tf.matmul(vector, self.kernel) + tf.matmul(state_vector, self.recurrent_kernel)
        )
        out_matrix = tf.tanh(
            tf.einsum("bij,ijkl->bkl", matrix, self.matrix_kernel) + 0.5 * state_matrix
        )
        return [out_vector, out_matrix], PairState(out_vector, out_matrix)


class StatelessCell(tf_keras.layers.Layer):
    """A cell without states (``state_size=((), [], ())``): out = tanh(x W)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = ((), [], ())
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        return tf.tanh(tf.matmul(inputs, self.kernel)), states
