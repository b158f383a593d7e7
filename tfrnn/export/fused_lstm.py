"""LSTM layers as TFLite's fused UNIDIRECTIONAL_SEQUENCE_LSTM.

TFLite's converter replaces a function whose ``api_implements`` attribute
starts with ``lstm_`` by its fused kernel when the function follows
tf_keras's ``standard_lstm`` contract: arguments ``(inputs, init_h, init_c,
kernel, recurrent_kernel, bias)`` with kernels in tf_keras's layout (gates
i, f, c, o), five results ``(last_output, outputs, h, c, runtime)`` of which
``h`` and ``c`` are unused, attributes ``time_major`` and ``go_backwards``,
and init states of static shape (a fixed batch size). tfrnn keeps tf_keras's
weight layout, so a layer's variables are passed as they are.

The kernel clips the cell state at +-10 (tf_keras does not), and it keeps
its state in TFLite variable tensors across invocations: call
``interpreter.reset_all_variables()`` before each run of an artifact with
fused layers.
"""

from __future__ import annotations

import uuid

import tensorflow as tf

from tfrnn.cell_math.activations import SIGMOID, TANH
from tfrnn.export.loop import builtin_scan

#: what the report says about an LSTM layer that was not fused
NOT_FUSED_DYNAMIC_BATCH = "batch size is dynamic (the fused kernel needs batch_size=N)"


def fusion_blocker(layer) -> str | None:
    """Why a tfrnn LSTM layer's configuration (either Keras's) cannot be fused, or None."""
    cell = layer.cell
    if cell.math_activation(cell.activation).kind != TANH:
        return "activation is not tanh"
    if cell.math_activation(cell.recurrent_activation).kind != SIGMOID:
        return "recurrent_activation is not sigmoid"
    if not cell.use_bias:
        return "use_bias=False"
    if layer.return_state:
        return "return_state=True (the fused kernel returns no states)"
    if layer.stateful:
        return "stateful=True"
    return None


def _standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias, go_backwards):
    """tf_keras's LSTM equations, time-major; TFLite replaces this body."""
    projected = tf.einsum("tbi,ig->tbg", inputs, kernel) + bias

    def step(z, states):
        h, c = states
        z = z + tf.matmul(h, recurrent_kernel)
        i, f, g, o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, [h, c]

    result = builtin_scan(
        step, projected, [init_h, init_c], tf.zeros_like(init_h), go_backwards=go_backwards
    )
    h, c = result.states
    return result.last_output, result.outputs, h, c, tf.constant(1.0)


def fused_lstm_function(go_backwards: bool):
    """A fresh tf.function carrying the attributes TFLite fuses on."""

    def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        return _standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias, go_backwards)

    return tf.function(
        standard_lstm,
        autograph=False,
        experimental_attributes={
            "api_implements": f"lstm_{uuid.uuid4()}",
            "api_preferred_device": "CPU",
            "time_major": True,
            "go_backwards": go_backwards,
        },
    )
