"""Backpropagation through time written out, for cells whose step is one
recurrent matmul followed by elementwise math (SimpleRNN, GRU, LSTM).

Pure TensorFlow (no Keras import). ``scan_with_gradient`` runs the forward
pass on the engine (``scan``) and gives it a gradient that is a second
``scan``, backwards in time, over the cell's hand-derived step gradient.

What makes it cheaper than differentiating the forward loop: the forward
step also computes, off the recurrent critical path, the factors its
gradient needs (derivatives of the activations times the values they
multiply), so a backward step is a few multiplications and one matmul; the
weights' and the inputs' gradients are one matmul per block of timesteps
(``scan``'s ``reduce_blocks``), run beside the backward recurrence instead
of one small matmul and an accumulation per step (under XLA: one matmul
over the whole sequence, after it); and both loops read their per-step
tensors in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import tensorflow as tf
from tensorflow.python.saved_model import save_context

from tfrnn.engine.scan import ScanResult, in_xla_context, scan


class FusedCell(NamedTuple):
    """One cell step split for ``scan_with_gradient``.

    The cell's projection of a step's inputs ``x`` is, per gate ``g`` (an
    equal block of ``kernel``'s columns), ``(x * input_masks[g]) @ kernel_g
    + bias_g`` (``input_masks`` None, or one mask for every gate, or one per
    gate). Its step is ``m = (states[0] * operand_mask) @ recurrent_kernel``
    followed by elementwise math:

    - ``forward(z, m, states, params) -> (output, new_states, saved)``:
      ``z`` is the step's projection; ``saved`` (tensors of widths
      ``saved_sizes``) is what ``backward`` reads.
    - ``backward(saved, params, d_output, d_new_states) -> (d_z, d_m,
      d_states)``: the gradients of the step's inputs, ``d_z`` and ``d_m``
      each one tensor with the gates side by side. ``d_states`` holds the
      gradients of the previous states that do not pass through ``m`` (None
      for none). ``d_m`` is None, and taken to equal ``d_z``,
      unless ``product_grad_differs`` (the product is added to the
      projection in SimpleRNN and LSTM, not in GRU).
    - ``param_grads(d_m) -> list``: gradients of ``params`` from ``d_m`` of
      some timesteps (``(steps * batch, gates * units)``); summed over
      blocks of timesteps, so it must be a sum over its rows.
    """

    forward: Callable[..., tuple[tf.Tensor, list[tf.Tensor], list[tf.Tensor]]]
    backward: Callable[..., tuple[Any, Any, list[tf.Tensor | None]]]
    saved_sizes: Sequence[int]
    gates: int
    kernel: tf.Tensor
    bias: tf.Tensor | None
    recurrent_kernel: tf.Tensor
    input_masks: Sequence[tf.Tensor] | None = None
    operand_mask: tf.Tensor | None = None
    params: Sequence[tf.Tensor] = ()
    param_grads: Callable[[tf.Tensor], list[tf.Tensor]] | None = None
    product_grad_differs: bool = False


def applies_here() -> bool:
    """Whether a training run traced here takes the hand-written gradient:
    not while a SavedModel is written. TensorFlow differentiates a loaded
    loop itself, and without the records and the backward graph the
    SavedModel is a third of the size (tf_keras's own)."""
    return not save_context.in_save_context()


def scan_with_gradient(
    fused: FusedCell,
    inputs: tf.Tensor,
    initial_states: Sequence[tf.Tensor],
    *,
    project: Callable[[tf.Tensor], Any],
    mask: tf.Tensor | None = None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    return_all_outputs: bool = True,
    active_range: tuple[Any, Any] | None = None,
) -> ScanResult:
    """``scan`` over time-major ``inputs`` ``(time, batch, features)`` with
    ``fused``'s step (``project`` being the cell's projection, as
    ``FusedCell`` describes it), differentiated by the hand-written
    backward pass.

    Same arguments and masking rules as ``scan``; ``mask`` is
    ``(time, batch)``. The backward loop runs the steps the forward one ran.
    """
    mask = None if mask is None else tf.cast(mask, tf.bool)
    # the backward pass runs where the forward pass does: compiled with it
    # or not (its graph is traced later, outside any XLA context)
    xla = in_xla_context()
    n_states = len(initial_states)
    operand_mask = fused.operand_mask
    has_bias = fused.bias is not None

    @tf.custom_gradient
    def run(inputs, kernel, recurrent_kernel, *rest):
        bias, rest = (rest[0], rest[1:]) if has_bias else (None, rest)
        states0, params = list(rest[:n_states]), list(rest[n_states:])
        first = states0[0]
        batch = tf.shape(first)[0]

        def step(z, states):
            operand = states[0] if operand_mask is None else states[0] * operand_mask
            output, new_states, saved = fused.forward(
                z, tf.matmul(operand, recurrent_kernel), states, params
            )
            return output, new_states, [*saved, states[0]]

        saved_like = [tf.zeros([batch, size], first.dtype) for size in fused.saved_sizes]
        forward = scan(
            step,
            inputs,
            states0,
            tf.zeros_like(first),
            mask=mask,
            go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask,
            time_major=True,
            return_all_outputs=return_all_outputs,
            output_is_first_state=True,  # every FusedCell's output is its new h
            record_like=[*saved_like, tf.zeros_like(first)],
            differentiable=False,
            project=project,
            xla=xla,
            active_range=active_range,
        )
        # per-step tensors in the order the steps ran
        *saved, previous = forward.records

        def grad(*grads):
            d_outputs = grads[0] if return_all_outputs else None
            d_last, *d_final = grads[1:] if return_all_outputs else grads
            d_carry = [
                _zeros_if_none(d, like)
                for d, like in zip([*d_final, d_last], [*forward.states, forward.last_output])
            ]
            # the backward pass reads everything in the order the forward pass ran
            run_order = (lambda x: tf.reverse(x, [0])) if go_backwards else (lambda x: x)
            # the steps the forward loop ran, as positions in that order
            ran = active_range
            if go_backwards and ran is not None:
                steps = tf.shape(inputs)[0]
                ran = (steps - ran[1], steps - ran[0])
            d_inputs, d_weights, d_initial = _backward(
                fused,
                kernel,
                recurrent_kernel,
                params,
                run_order(inputs),
                d_outputs,
                saved,
                previous,
                None if mask is None else run_order(mask),
                d_carry,
                zero_output_for_mask,
                xla,
                ran,
            )
            d_kernel, d_bias, d_recurrent, d_params = d_weights
            d_bias = [d_bias] if has_bias else []
            return [run_order(d_inputs), d_kernel, d_recurrent, *d_bias, *d_initial, *d_params]

        results = [forward.last_output, *forward.states]
        if return_all_outputs:
            results.insert(0, forward.outputs)
        return results, grad

    bias = [fused.bias] if has_bias else []
    results = run(
        inputs, fused.kernel, fused.recurrent_kernel, *bias, *initial_states, *fused.params
    )
    outputs = results.pop(0) if return_all_outputs else None
    last_output, *states = results
    return ScanResult(last_output, outputs, states)


def _backward(
    fused,
    kernel,
    recurrent_kernel,
    params,
    inputs,
    d_outputs,
    saved,
    previous,
    mask,
    d_carry,
    zero_output,
    xla,
    ran,
):
    """The backward loop, over the forward pass's per-step tensors in the
    order that pass ran them (last first): ``(d_inputs, (d_kernel, d_bias,
    d_recurrent_kernel, d_params), d_initial_states)``, ``d_inputs`` in that
    order too.

    ``d_carry`` is the gradients of the final states then of the last
    output. The loop carries the states' gradients and, under a mask, the
    gradient of the output that masked steps repeat. The weights' gradients
    and the inputs' are products over whole blocks of timesteps, made
    beside the loop (``scan``'s ``reduce_blocks``).
    """
    gates, n_saved, n_states = fused.gates, len(saved), len(d_carry) - 1
    input_masks = fused.input_masks

    # transposed once (a transposed matmul per step is slower)
    recurrent_t = tf.transpose(recurrent_kernel)
    kernel_t = tf.transpose(kernel)
    loop_inputs = [*saved, previous, inputs]
    if d_outputs is not None:
        loop_inputs.append(d_outputs)
    if mask is not None:
        loop_inputs.append(mask)
    # reduced block by block into a TensorArray, or once for the whole
    # sequence (``scan`` under XLA)
    d_inputs = (
        ()
        if xla
        else tf.TensorArray(inputs.dtype, size=tf.shape(inputs)[0], element_shape=inputs.shape[1:])
    )

    def step(step_inputs, carry):
        step_saved, rest = list(step_inputs[:n_saved]), list(step_inputs[n_saved + 2 :])
        d_states, d_output = list(carry[:n_states]), carry[n_states]
        if d_outputs is not None:
            d_output = d_output + rest.pop(0)
        carried = passed = None
        if mask is not None:
            keep = _expand(rest.pop(0), d_output)
            passed = [tf.where(keep, tf.zeros_like(d), d) for d in d_states]
            d_states = [tf.where(keep, d, tf.zeros_like(d)) for d in d_states]
            if not zero_output:
                carried = tf.where(keep, tf.zeros_like(d_output), d_output)
            d_output = tf.where(keep, d_output, tf.zeros_like(d_output))
        d_z, d_m, direct = fused.backward(step_saved, params, d_output, d_states)
        d_operand = tf.matmul(d_z if d_m is None else d_m, recurrent_t)
        if fused.operand_mask is not None:
            d_operand = d_operand * fused.operand_mask
        d_previous = [d_operand if direct[0] is None else direct[0] + d_operand]
        d_previous += [
            tf.zeros_like(like) if d is None else d for d, like in zip(direct[1:], d_states[1:])
        ]
        if passed is not None:
            d_previous = [d + p for d, p in zip(d_previous, passed)]
        if carried is None:
            carried = tf.zeros_like(d_output)
        records = [d_z, d_m] if fused.product_grad_differs else [d_z]
        return (), [*d_previous, carried], records

    def reduce(acc, block, records, start):
        """One block's share of the weights' gradients, and its inputs' gradient."""
        d_kernel, d_bias, d_recurrent, d_params, d_inputs = acc
        steps = tf.shape(records[0])[0]
        d_z = _flatten_time(records[0])
        d_m = _flatten_time(records[1]) if fused.product_grad_differs else d_z
        operand, x = block[n_saved], block[n_saved + 1]
        if fused.operand_mask is not None:
            operand = operand * fused.operand_mask
        d_recurrent = _accumulate(
            d_recurrent, tf.matmul(_flatten_time(operand), d_m, transpose_a=True)
        )
        if fused.bias is not None:
            d_bias += tf.reduce_sum(d_z, axis=0)
        d_params = [a + g for a, g in zip(d_params, fused.param_grads(d_m) if params else [])]
        if input_masks is None or len(input_masks) == 1:
            if input_masks is not None:
                x = x * input_masks[0]
            d_kernel = _accumulate(d_kernel, tf.matmul(_flatten_time(x), d_z, transpose_a=True))
            d_x = tf.matmul(d_z, kernel_t)
            if input_masks is not None:
                d_x = d_x * tf.tile(input_masks[0], [steps, 1])
        else:  # one dropout mask per gate
            pieces = list(
                zip(tf.split(d_z, gates, axis=1), tf.split(kernel_t, gates, axis=0), input_masks)
            )
            d_kernel += tf.concat(
                [tf.matmul(_flatten_time(x * m), d, transpose_a=True) for d, _, m in pieces],
                axis=1,
            )
            d_x = tf.add_n([tf.matmul(d, k) * tf.tile(m, [steps, 1]) for d, k, m in pieces])
        d_x = tf.reshape(d_x, tf.shape(x))
        if xla:
            d_inputs = d_x
        else:
            for i in range(records[0].shape[0]):
                d_inputs = d_inputs.write(start + i, d_x[i])
        return d_kernel, d_bias, d_recurrent, d_params, d_inputs

    units = recurrent_kernel.shape[0]
    initial = (
        tf.zeros_like(kernel),
        tf.zeros([gates * units], kernel.dtype),
        tf.zeros_like(recurrent_kernel),
        [tf.zeros_like(p) for p in params],
        d_inputs,
    )
    batch = tf.shape(d_carry[0])[0]
    pieces = 2 if fused.product_grad_differs else 1
    record_like = [tf.zeros([batch, gates * units], kernel.dtype) for _ in range(pieces)]
    result = scan(
        step,
        loop_inputs,
        list(d_carry),
        (),
        go_backwards=True,
        time_major=True,
        record_like=record_like,
        keep_records=False,
        reduce_blocks=(reduce, initial),
        differentiable=False,
        xla=xla,
        active_range=ran,
    )
    d_kernel, d_bias, d_recurrent, d_params, d_inputs = result.reduced
    weights = (d_kernel, d_bias if fused.bias is not None else None, d_recurrent, d_params)
    d_inputs = d_inputs if xla else d_inputs.stack()
    return d_inputs, weights, list(result.states[:n_states])


def _expand(mask_t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(mask_t, tf.concat([tf.shape(mask_t), [1] * (like.shape.rank - 1)], 0))


def _flatten_time(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, [-1, tf.shape(x)[-1]])


def _zeros_if_none(grad: tf.Tensor | None, like: tf.Tensor) -> tf.Tensor:
    return tf.zeros_like(like) if grad is None else grad


def _accumulate(total: tf.Tensor, product: tf.Tensor) -> tf.Tensor:
    """``total + product`` for a matmul ``product``, as an AddN.

    Grappler's CPU remapper fuses ``MatMul + Add`` into a oneDNN
    ``_FusedMatMul`` that takes the addend for a bias and rejects it at run
    time when the gradient is (1, 1) ("bias must be 1-dimensional"); AddN is
    never fused."""
    return tf.math.add_n([total, product])
