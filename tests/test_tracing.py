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


def _library_ops(concrete):
    library = concrete.graph.as_graph_def().library.function
    devices = {f.attr["api_preferred_device"].s for f in library}
    return devices, {n.op for f in library for n in f.node_def}


def test_without_a_gpu_a_trace_holds_no_cudnn_alternative():
    """On a machine without a GPU the cuDNN function (and its gradient
    functions) could never be chosen: a trace leaves it out, which is most
    of a model's first call. A trace placed on a GPU keeps it (as does a
    SavedModel, tests/test_cudnn_layers.py)."""
    assert not tf.config.list_logical_devices("GPU")
    layer = tfrnn.LSTM(3)
    layer(np.zeros([1, 2, 2], "float32"))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x))
        return tape.gradient(loss, layer.trainable_weights)

    spec = tf.TensorSpec([None, 2, 2])
    devices, ops = _library_ops(step.get_concrete_function(spec))
    assert devices == {b"", b"CPU"} and "CudnnRNNV3" not in ops
    with tf.device("/GPU:0"):
        devices, ops = _library_ops(tf.function(step.python_function).get_concrete_function(spec))
    assert b"GPU" in devices and "CudnnRNNV3" in ops
