"""GRU's math (Cho et al. 2014), gates z, r, h in tf_keras's order; both
``reset_after`` conventions (True: cuDNN's, reset applied after the matmul)."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from tfrnn.cell_math.dense import DenseCellMath, masked_projection, recurrent_product
from tfrnn.cell_math.steps import StepFunctions


@dataclass(frozen=True)
class GRUMath(DenseCellMath):
    """A GRU step; with ``reset_after`` the bias is ``(2, 3 * units)`` (input
    and recurrent biases), else ``(3 * units,)``."""

    gates = 3

    reset_after: bool = True

    def step_functions(self, weights, step_sample, training=None) -> StepFunctions:
        input_masks, recurrent_masks = self.masks(step_sample, training)
        kernel, recurrent_kernel, bias = weights
        units = self.units
        input_bias = recurrent_bias = None
        if bias is not None and self.reset_after:
            input_bias, recurrent_bias = tf.unstack(bias)
        elif bias is not None:
            input_bias = bias
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def project(inputs):
            """The z, r and candidate parts of the input projection."""
            x = masked_projection(inputs, kernel, input_bias, input_masks, 3)
            return tuple(tf.split(x, 3, axis=-1))

        if self.reset_after:

            def step(x, states):
                (x_z, x_r, x_h), h = x, states[0]
                inner = recurrent_product(h, recurrent_kernel, recurrent_masks, 3)
                if recurrent_bias is not None:
                    inner = tf.nn.bias_add(inner, recurrent_bias)
                inner_z, inner_r, inner_h = tf.split(inner, 3, axis=-1)
                z = recurrent_activation(x_z + inner_z)
                r = recurrent_activation(x_r + inner_r)
                candidate = activation(x_h + r * inner_h)
                h = candidate + z * (h - candidate)
                return h, [h]

        else:
            kernel_zr = recurrent_kernel[:, : 2 * units]
            kernel_h = recurrent_kernel[:, 2 * units :]
            zr_masks = None if recurrent_masks is None else recurrent_masks[:2]
            h_mask = None if recurrent_masks is None else recurrent_masks[-1]

            def step(x, states):
                (x_z, x_r, x_h), h = x, states[0]
                inner_z, inner_r = tf.split(
                    recurrent_product(h, kernel_zr, zr_masks, 2), 2, axis=-1
                )
                z = recurrent_activation(x_z + inner_z)
                r = recurrent_activation(x_r + inner_r)
                reset_h = r * h if h_mask is None else r * (h * h_mask)
                candidate = activation(x_h + tf.matmul(reset_h, kernel_h))
                h = candidate + z * (h - candidate)
                return h, [h]

        fused = self.fused_cell(
            (kernel, input_bias, recurrent_kernel),
            input_masks,
            recurrent_masks,
            recurrent_bias=recurrent_bias,
        )
        return StepFunctions(project, step, fused, output_is_state=True)

    def fused_step(self, recurrent_bias=None) -> dict | None:
        """The reset-after step for the engine's hand-written gradient, when the
        activations' derivatives follow from their outputs. (With
        reset_after=False the reset gate acts before a second product; that
        step keeps automatic gradients.)"""
        grad = self.activation.derivative
        recurrent_grad = self.recurrent_activation.derivative
        if not self.reset_after or grad is None or recurrent_grad is None:
            return None
        activation, recurrent_activation = self.activation, self.recurrent_activation

        def forward(x, product, states, params):
            x_z, x_r, x_h = x
            if params:
                product = tf.nn.bias_add(product, params[0])
            inner_z, inner_r, inner_h = tf.split(product, 3, axis=-1)
            z = recurrent_activation(x_z + inner_z)
            r = recurrent_activation(x_r + inner_r)
            candidate = activation(x_h + r * inner_h)
            h = candidate + z * (states[0] - candidate)
            # d(pre-activations of z, r, candidate) / d(h), side by side as
            # the kernel's gates are, and what each gate's gradient is
            # multiplied by on its way to the product (r for the candidate)
            candidate_by_h = (1.0 - z) * grad(candidate)
            z_by_h = (states[0] - candidate) * recurrent_grad(z)
            r_by_h = candidate_by_h * inner_h * recurrent_grad(r)
            gates_by_h = tf.concat([z_by_h, r_by_h, candidate_by_h], axis=-1)
            product_by_gates = tf.concat([tf.ones_like(z), tf.ones_like(r), r], axis=-1)
            return h, [h], [gates_by_h, product_by_gates, z]

        def backward(saved, params, d_h, d_states):
            gates_by_h, product_by_gates, z = saved
            d_h = d_h + d_states[0]
            d_gates = tf.tile(d_h, [1, 3]) * gates_by_h
            return d_gates, d_gates * product_by_gates, [d_h * z]

        def param_grads(d_product):
            return [tf.reduce_sum(d_product, axis=0)]

        units = self.units
        return dict(
            forward=forward,
            backward=backward,
            saved_sizes=[3 * units, 3 * units, units],
            params=[] if recurrent_bias is None else [recurrent_bias],
            param_grads=param_grads,
            product_grad_differs=True,
        )
