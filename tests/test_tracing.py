"""Tracing a tfrnn layer: tfrnn's own code is traced as written (as
TensorFlow traces tf_keras's), a user's custom cell is still converted by
AutoGraph as tf_keras would convert it."""

import numpy as np
import tensorflow as tf
import tf_keras
from tensorflow.python.autograph.impl import conversion

import tfrnn
from tfrnn.engine import scan


def test_tfrnn_functions_are_left_unconverted_by_autograph():
    for entity in (tfrnn.LSTM.call, tfrnn.RNN.__call__, scan.scan):
        assert conversion.is_allowlisted(entity), entity


class CountingCell(tf_keras.layers.Layer):
    """A user's cell whose step needs AutoGraph: a Python ``if`` on a tensor."""

    state_size = 2
    output_size = 2

    def call(self, inputs, states):
        total = states[0] + inputs
        if tf.reduce_sum(total) > 0.0:
            total = total * 2.0
        return total, [total]


def test_a_user_cell_is_still_converted_by_autograph():
    assert not conversion.is_allowlisted(CountingCell.call)
    layer = tfrnn.RNN(CountingCell())
    x = np.ones([1, 3, 2], "float32")
    expected = tf_keras.layers.RNN(CountingCell())(x)
    np.testing.assert_allclose(tf.function(layer)(x), expected)
