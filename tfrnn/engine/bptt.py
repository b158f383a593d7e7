"""Backpropagation through time written out, for cells whose step is one
recurrent matmul followed by elementwise math (SimpleRNN, GRU, LSTM).

Pure TensorFlow (no Keras import). ``scan_with_gradient`` runs the forward
pass on the engine (``scan``) and gives it a gradient that is a second
``scan``, backwards in time, over the cell's hand-derived step gradient.

What makes it cheaper than differentiating the forward loop: the forward
step also computes, off the recurrent critical path, the factors its
gradient needs (derivatives of the activations times the values they
multiply), so a backward step is a few multiplications and one matmul; the
recurrent kernel's gradient is one matmul over every timestep after the
loop instead of one small matmul and an accumulation per step; and both
loops read their per-step tensors in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import tensorflow as tf

from tfrnn.engine.scan import ScanResult, scan


class FusedCell(NamedTuple):
    """One cell step split for ``scan_with_gradient``.

    The step is ``m = (states[0] * operand_mask) @ recurrent_kernel``
    followed by elementwise math:

    - ``forward(z, m, states, params) -> (output, new_states, saved)``:
      ``z`` is the step's projected input (a tensor or a nested structure);
      ``saved`` (tensors of widths ``saved_sizes``) is what ``backward``
      reads.
    - ``backward(saved, params, d_output, d_new_states) -> (d_z, d_m,
      d_states)``: the gradients of the step's inputs. ``d_states`` holds
      the gradients of the previous states that do not pass through ``m``
      (None for none). ``d_m`` is the product's gradient in
      ``product_pieces`` pieces, one per equal block of the recurrent
      kernel's columns (a gate; pieces save concatenating them). It is None,
      and taken to equal ``d_z``, unless ``product_grad_differs`` (the
      product is added to the projected input in SimpleRNN and LSTM, not in
      GRU).
    - ``param_grads(d_m) -> list``: gradients of ``params`` from every
      timestep's ``d_m`` pieces (each flattened to ``(time * batch, width)``).
    """

    forward: Callable[..., tuple[tf.Tensor, list[tf.Tensor], list[tf.Tensor]]]
    backward: Callable[..., tuple[tf.Tensor, tf.Tensor | None, list[tf.Tensor | None]]]
    saved_sizes: Sequence[int]
    recurrent_kernel: tf.Tensor
    params: Sequence[tf.Tensor] = ()
    param_grads: Callable[[list[tf.Tensor]], list[tf.Tensor]] | None = None
    operand_mask: tf.Tensor | None = None
    product_grad_differs: bool = False
    product_pieces: int = 1


def scan_with_gradient(
    fused: FusedCell,
    projected: Any,
    initial_states: Sequence[tf.Tensor],
    *,
    mask: tf.Tensor | None = None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    return_all_outputs: bool = True,
) -> ScanResult:
    """``scan`` over time-major ``projected`` (a tensor or nested structure
    of ``(time, batch, width)`` tensors) with ``fused``'s step,
    differentiated by the hand-written backward pass.

    Same arguments and masking rules as ``scan``; ``mask`` is
    ``(time, batch)``.
    """
    mask = None if mask is None else tf.cast(mask, tf.bool)
    # the backward pass reads the mask in the order the forward pass ran
    run_mask = mask if mask is None or not go_backwards else tf.reverse(mask, [0])
    flat_projected = tf.nest.flatten(projected)
    n_projected, n_states = len(flat_projected), len(initial_states)
    operand_mask = fused.operand_mask

    @tf.custom_gradient
    def run(*args):
        flat_inputs, (recurrent_kernel, *rest) = args[:n_projected], args[n_projected:]
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
            tf.nest.pack_sequence_as(projected, list(flat_inputs)),
            states0,
            tf.zeros_like(first),
            mask=mask,
            go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask,
            time_major=True,
            return_all_outputs=return_all_outputs,
            record_like=[*saved_like, tf.zeros_like(first)],
            differentiable=False,
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
            d_inputs, d_products, d_initial = _backward(
                fused,
                recurrent_kernel,
                params,
                [tf.zeros([batch, x.shape[-1]], x.dtype) for x in flat_inputs],
                d_outputs,
                saved,
                run_mask,
                d_carry,
                zero_output_for_mask,
            )
            if go_backwards:  # from the order the steps ran back to time order
                d_inputs = [tf.reverse(d, [0]) for d in d_inputs]
            operands = _flatten_time(previous if operand_mask is None else previous * operand_mask)
            d_products = [_flatten_time(d) for d in d_products]
            d_kernel = tf.concat(
                [tf.matmul(operands, d, transpose_a=True) for d in d_products], axis=-1
            )
            d_params = fused.param_grads(d_products) if params else []
            return [*d_inputs, d_kernel, *d_initial, *d_params]

        results = [forward.last_output, *forward.states]
        if return_all_outputs:
            results.insert(0, forward.outputs)
        return results, grad

    results = run(*flat_projected, fused.recurrent_kernel, *initial_states, *fused.params)
    outputs = results.pop(0) if return_all_outputs else None
    last_output, *states = results
    return ScanResult(last_output, outputs, states)


def _backward(
    fused, recurrent_kernel, params, input_zeros, d_outputs, saved, mask, d_carry, zero_output
):
    """The backward loop: ``(d_inputs, d_products, d_initial_states)``, where
    ``d_inputs`` is flat like the projected inputs (``input_zeros`` holds a
    step of zeros of each) and ``d_products`` lists the product's gradient
    in pieces.

    ``d_carry`` is the gradients of the final states then of the last
    output. The loop carries the states' gradients and, under a mask, the
    gradient of the output that masked steps repeat; it reads the forward
    pass's per-step tensors (and ``mask``) last step first, and returns the
    gradients in the order the forward pass ran.
    """
    n_saved, n_states = len(saved), len(d_carry) - 1
    # each gate's block of the kernel, transposed once (a transposed matmul
    # per step is slower)
    kernel_pieces = [
        tf.transpose(k) for k in tf.split(recurrent_kernel, fused.product_pieces, axis=1)
    ]
    inputs = list(saved)
    if d_outputs is not None:
        inputs.append(d_outputs)
    if mask is not None:
        inputs.append(mask)

    def step(step_inputs, carry):
        step_saved, rest = list(step_inputs[:n_saved]), list(step_inputs[n_saved:])
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
        d_m = tf.nest.flatten(d_z if d_m is None else d_m)
        d_operand = tf.add_n([tf.matmul(d, k) for d, k in zip(d_m, kernel_pieces)])
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
        outputs = tf.nest.flatten(d_z)
        if fused.product_grad_differs:
            outputs += d_m
        return outputs, [*d_previous, carried]

    batch = tf.shape(d_carry[0])[0]
    product_zeros = [tf.zeros([batch, k.shape[0]], recurrent_kernel.dtype) for k in kernel_pieces]
    result = scan(
        step,
        inputs,
        list(d_carry),
        [*input_zeros, *product_zeros] if fused.product_grad_differs else list(input_zeros),
        go_backwards=True,
        time_major=True,
        time_ordered_outputs=True,
        differentiable=False,
    )
    gradients = list(result.outputs)
    d_inputs = gradients[: len(input_zeros)]
    d_products = gradients[len(input_zeros) :] if fused.product_grad_differs else d_inputs
    return d_inputs, d_products, list(result.states[:n_states])


def _expand(mask_t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(mask_t, tf.concat([tf.shape(mask_t), [1] * (like.shape.rank - 1)], 0))


def _flatten_time(x: tf.Tensor) -> tf.Tensor:
    return tf.reshape(x, [-1, tf.shape(x)[-1]])


def _zeros_if_none(grad: tf.Tensor | None, like: tf.Tensor) -> tf.Tensor:
    return tf.zeros_like(like) if grad is None else grad
