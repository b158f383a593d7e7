"""SimpleRNNCell: a fully-connected RNN, ``h = activation(x W + b + h U)``."""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from tfrnn.cells.base import (
    DenseGatedCell,
    StepFunctions,
    derivative_from_output,
    dropout_masks,
    project_dense,
)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class SimpleRNNCell(DenseGatedCell):
    """Cell class for SimpleRNN (tf_keras's arguments and weights)."""

    gates = 1

    def step_functions(self, step_sample, training=None) -> StepFunctions:
        input_masks = dropout_masks(step_sample, self.dropout, 1, training)
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            zeros = tf.zeros([tf.shape(step_sample)[0], self.units], step_sample.dtype)
            recurrent_masks = dropout_masks(zeros, self.recurrent_dropout, 1, training)
        kernel, recurrent_kernel, bias = self.weight_tensors()
        activation = self.activation

        def project(inputs):
            if input_masks is not None:
                inputs = inputs * input_masks[0]
            return project_dense(inputs, kernel, bias)

        def step(x, states):
            h = states[0]
            if recurrent_masks is not None:
                h = h * recurrent_masks[0]
            h = activation(x + tf.matmul(h, recurrent_kernel))
            return h, [h]

        fused = self.fused_cell((kernel, bias, recurrent_kernel), input_masks, recurrent_masks)
        return StepFunctions(project, step, fused)

    def fused_step(self) -> dict | None:
        """The step for the engine's hand-written gradient, when the
        activation's derivative follows from its output."""
        grad = derivative_from_output(self.activation)
        if grad is None:
            return None
        activation = self.activation

        def forward(x, product, states, params):
            h = activation(x + product)
            return h, [h], [grad(h)]

        def backward(saved, params, d_h, d_states):
            return (d_h + d_states[0]) * saved[0], None, [None]

        return dict(forward=forward, backward=backward, saved_sizes=[self.units])
