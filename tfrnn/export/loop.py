"""The sequence loop as TFLite builtins: ``tfrnn.engine.scan``'s semantics
without TensorArrays.

TFLite lowers TensorArrays (TensorList ops) to builtins only when their
element shape is static, so a dynamic batch size forces Flex ops. This loop
reads timestep ``t`` with a gather and writes it with a dynamic-update-slice
into a preallocated ``(time, batch, ...)`` buffer: WHILE, GATHER and
DYNAMIC_UPDATE_SLICE, all builtins, for any batch size and length. It is
traced only for conversion; the model itself keeps using the engine.
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
) -> ScanResult:
    """``tfrnn.engine.scan`` on time-major inputs, without TensorArrays.

    Same arguments and masking rules as the engine's ``scan`` (time-major,
    no constants, no unroll: a dynamic length is always looped).
    """
    flat_inputs = tf.nest.flatten(inputs)
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
    if go_backwards:
        flat_inputs = [tf.reverse(x, [0]) for x in flat_inputs]
        mask = None if mask is None else tf.reverse(mask, [0])
    flat_states = tf.nest.flatten(initial_states)
    flat_output = tf.nest.flatten(initial_output)
    steps = tf.shape(flat_inputs[0])[0]
    buffers = (
        [tf.zeros(tf.concat([[steps], tf.shape(o)], 0), o.dtype) for o in flat_output]
        if return_all_outputs
        else []
    )

    def body(t, output, states, buffers):
        inputs_t = tf.nest.pack_sequence_as(inputs, [tf.gather(x, t) for x in flat_inputs])
        packed_states = tf.nest.pack_sequence_as(initial_states, list(states))
        new_output, new_states = step_fn(inputs_t, packed_states)
        new_output = tf.nest.flatten(new_output)
        new_states = tf.nest.flatten(new_states)
        for new, old in zip(new_states, states):
            new.set_shape(old.shape)
        if mask is not None:
            mask_t = tf.gather(mask, t)
            new_states = _select(mask_t, new_states, list(states))
            fallback = (
                [tf.zeros_like(o) for o in new_output] if zero_output_for_mask else list(output)
            )
            new_output = _select(mask_t, new_output, fallback)
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
    return ScanResult(
        last_output=tf.nest.pack_sequence_as(initial_output, list(output)),
        outputs=tf.nest.pack_sequence_as(initial_output, list(buffers))
        if return_all_outputs
        else None,
        states=tf.nest.pack_sequence_as(initial_states, list(states)),
    )
