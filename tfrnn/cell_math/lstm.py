"""LSTM's math (Hochreiter & Schmidhuber 1997), gates i, f, c, o in tf_keras's order."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from tfrnn.cell_math.dense import DenseCellMath, masked_projection, recurrent_product
from tfrnn.cell_math.steps import StepFunctions


@dataclass(frozen=True)
class LSTMMath(DenseCellMath):
    """An LSTM step; states ``[h, c]``."""

    gates = 4

    def step_functions(self, weights, step_sample, training=None) -> StepFunctions:
        input_masks, recurrent_masks = self.masks(step_sample, training)
        kernel, recurrent_kernel, bias = weights
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def project(inputs):
            """The i, f, candidate and o parts of the input projection."""
            return tuple(tf.split(masked_projection(inputs, kernel, bias, input_masks, 4), 4, -1))

        def step(x, states):
            h, c = states[0], states[1]
            inner = recurrent_product(h, recurrent_kernel, recurrent_masks, 4)
            i, f, candidate, o = (a + b for a, b in zip(x, tf.split(inner, 4, axis=-1)))
            c = recurrent_activation(f) * c + recurrent_activation(i) * activation(candidate)
            h = recurrent_activation(o) * activation(c)
            return h, [h, c]

        fused = self.fused_cell((kernel, bias, recurrent_kernel), input_masks, recurrent_masks)
        return StepFunctions(project, step, fused, output_is_state=True)

    def fused_step(self) -> dict | None:
        """The step for the engine's hand-written gradient, when the
        activations' derivatives follow from their outputs."""
        grad = self.activation.derivative
        recurrent_grad = self.recurrent_activation.derivative
        if grad is None or recurrent_grad is None:
            return None
        activation, recurrent_activation = self.activation, self.recurrent_activation
        units = self.units

        def forward(x, product, states, params):
            i, f, candidate, o = (a + b for a, b in zip(x, tf.split(product, 4, axis=-1)))
            i, f, o = recurrent_activation(i), recurrent_activation(f), recurrent_activation(o)
            candidate = activation(candidate)
            c = f * states[1] + i * candidate
            activated_c = activation(c)
            h = o * activated_c
            # d(pre-activations of i, f, candidate) / d(c), of o / d(h), d(c) / d(h)
            by_c = [
                candidate * recurrent_grad(i),
                states[1] * recurrent_grad(f),
                i * grad(candidate),
            ]
            by_h = activated_c * recurrent_grad(o)
            return h, [h, c], [*by_c, by_h, o * grad(activated_c), f]

        def backward(saved, params, d_h, d_states):
            i_by_c, f_by_c, candidate_by_c, o_by_h, c_by_h, f = saved
            d_h = d_h + d_states[0]
            d_c = d_states[1] + d_h * c_by_h
            d_x = tf.concat([d_c * i_by_c, d_c * f_by_c, d_c * candidate_by_c, d_h * o_by_h], -1)
            return d_x, None, [None, d_c * f]

        return dict(forward=forward, backward=backward, saved_sizes=[units] * 6)
