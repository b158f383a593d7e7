"""The sequence loop as TFLite builtins: ``tfrnn.engine.scan``'s semantics
without TensorArrays.

TFLite lowers TensorArrays (TensorList ops) to builtins only when their
element shape is static, so a dynamic batch size forces Flex ops. This loop
reads timestep ``t`` with a gather and writes it with a dynamic-update-slice
into a preallocated ``(time, batch, ...)`` buffer: WHILE, GATHER and
DYNAMIC_UPDATE_SLICE, all builtins, for any batch size and length.

``unroll=True`` instead repeats the step once per timestep of a static time
length: UNPACK splits the inputs, PACK joins the outputs, and no WHILE is
left (TF 2.21's int8 calibrator crashes on WHILE loops). Both variants run
the same step, masking included. The loop is traced only for conversion;
the model itself keeps using the engine.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from tfrnn.engine.scan import ScanResult


def _expand_to(mask_t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    extra = like.shape.rank - 1
    return tf.reshape(mask_t, tf.concat([tf.shape(mask_t), [1] * extra], 0)) if extra else mask_t


def _select(mask_t, new, old):
    return [tf.where(_expand_to(mask_t, n), n, o) for n, o in zip(new, old)]


def _masked_step(step_fn, inputs, initial_states, zero_output_for_mask):
    """``one_step(flat inputs_t, mask_t or None, flat states, flat output)
    -> (flat output, flat states)``: the step with the engine's masking rules
    (a masked timestep keeps the states and repeats the previous output, or
    outputs zeros when ``zero_output_for_mask``)."""

    def one_step(flat_inputs_t, mask_t, states, output):
        inputs_t = tf.nest.pack_sequence_as(inputs, list(flat_inputs_t))
        packed_states = tf.nest.pack_sequence_as(initial_states, list(states))
        new_output, new_states = step_fn(inputs_t, packed_states)
        new_output = tf.nest.flatten(new_output)
        new_states = tf.nest.flatten(new_states)
        for new, old in zip(new_states, states):
            new.set_shape(old.shape)
        if mask_t is not None:
            new_states = _select(mask_t, new_states, list(states))
            fallback = (
                [tf.zeros_like(o) for o in new_output] if zero_output_for_mask else list(output)
            )
            new_output = _select(mask_t, new_output, fallback)
        return new_output, new_states

    return one_step


def builtin_scan(
    step_fn,
    inputs: Any,
    initial_states: Any,
    initial_output: Any,
    *,
    mask: tf.Tensor | None = None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    return_all_outputs: bool = True,
    unroll: bool = False,
) -> ScanResult:
    """``tfrnn.engine.scan`` on time-major inputs, without TensorArrays.

    Same arguments and masking rules as the engine's ``scan`` (time-major,
    no constants). ``unroll=True`` needs a static time length and leaves no
    loop; otherwise the loop is a WHILE for any length.
    """
    flat_inputs = tf.nest.flatten(inputs)
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
    flat_states = tf.nest.flatten(initial_states)
    flat_output = tf.nest.flatten(initial_output)
    one_step = _masked_step(step_fn, inputs, initial_states, zero_output_for_mask)
    if unroll:
        output, states, outputs = _unrolled(
            one_step, flat_inputs, mask, flat_states, flat_output, go_backwards, return_all_outputs
        )
    else:
        output, states, outputs = _looped(
            one_step, flat_inputs, mask, flat_states, flat_output, go_backwards, return_all_outputs
        )
    return ScanResult(
        last_output=tf.nest.pack_sequence_as(initial_output, list(output)),
        outputs=tf.nest.pack_sequence_as(initial_output, list(outputs))
        if return_all_outputs
        else None,
        states=tf.nest.pack_sequence_as(initial_states, list(states)),
    )


def _looped(one_step, flat_inputs, mask, flat_states, flat_output, go_backwards, collect):
    """A WHILE loop reading timestep t with GATHER, writing it with
    DYNAMIC_UPDATE_SLICE into a preallocated (time, batch, ...) buffer."""
    if go_backwards:
        flat_inputs = [tf.reverse(x, [0]) for x in flat_inputs]
        mask = None if mask is None else tf.reverse(mask, [0])
    steps = tf.shape(flat_inputs[0])[0]
    buffers = (
        [tf.zeros(tf.concat([[steps], tf.shape(o)], 0), o.dtype) for o in flat_output]
        if collect
        else []
    )

    def body(t, output, states, buffers):
        mask_t = None if mask is None else tf.gather(mask, t)
        new_output, new_states = one_step(
            [tf.gather(x, t) for x in flat_inputs], mask_t, states, output
        )
        buffers = [
            xla.dynamic_update_slice(b, o[tf.newaxis], [t] + [0] * o.shape.rank)
            for b, o in zip(buffers, new_output)
        ]
        return t + 1, new_output, new_states, buffers

    _, output, states, buffers = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), flat_output, flat_states, buffers),
        maximum_iterations=steps,
    )
    return output, states, buffers


def _unrolled(one_step, flat_inputs, mask, flat_states, flat_output, go_backwards, collect):
    """One step per timestep of a static length: UNPACK, the steps, PACK."""
    steps = flat_inputs[0].shape[0]
    if not steps:
        raise ValueError(
            f"Cannot unroll the loop over {'a dynamic' if steps is None else 'an empty'} "
            "time axis: the inputs need a static time length of at least 1."
        )
    inputs_by_t = list(zip(*[tf.unstack(x, steps) for x in flat_inputs]))
    masks = [None] * steps if mask is None else tf.unstack(mask, steps)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    output, states, collected = list(flat_output), list(flat_states), []
    for t in order:
        output, states = one_step(inputs_by_t[t], masks[t], states, output)
        if collect:
            collected.append(output)
    outputs = (
        [tf.stack([o[i] for o in collected]) for i in range(len(flat_output))] if collect else []
    )
    return output, states, outputs
