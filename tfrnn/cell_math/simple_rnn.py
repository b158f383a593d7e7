"""SimpleRNN's math: ``h = activation(x W + b + h U)``."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from tfrnn.cell_math.dense import DenseCellMath, project_dense
from tfrnn.cell_math.steps import StepFunctions


@dataclass(frozen=True)
class SimpleRNNMath(DenseCellMath):
    """A fully-connected RNN step (one gate)."""

    gates = 1

    def step_functions(self, weights, step_sample, training=None) -> StepFunctions:
        input_masks, recurrent_masks = self.masks(step_sample, training)
        kernel, recurrent_kernel, bias = weights
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
        return StepFunctions(project, step, fused, output_is_state=True)

    def fused_step(self) -> dict | None:
        """The step for the engine's hand-written gradient, when the
        activation's derivative follows from its output."""
        grad = self.activation.derivative
        if grad is None:
            return None
        activation = self.activation

        def forward(x, product, states, params):
            h = activation(x + product)
            return h, [h], [grad(h)]

        def backward(saved, params, d_h, d_states):
            return (d_h + d_states[0]) * saved[0], None, [None]

        return dict(forward=forward, backward=backward, saved_sizes=[self.units])
