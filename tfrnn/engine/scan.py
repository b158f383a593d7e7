"""The sequence engine: one loop over time for every tfrnn layer.

Pure TensorFlow (no Keras import). A layer hands ``scan`` a step function and
the (already projected) per-timestep inputs; ``scan`` owns the loop: masking,
direction, unrolling, state carry and output collection.

Masking follows tf_keras's ``backend.rnn``: at a masked timestep the states
keep their previous value and the output repeats the previous step's output
(zeros before the first valid step), or is zero when ``zero_output_for_mask``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf

Nested = Any
StepFn = Callable[..., tuple[Nested, Nested]]


class ScanResult(NamedTuple):
    """What ``scan`` returns.

    ``outputs`` is None unless ``return_all_outputs``; otherwise it has the
    same time/batch layout as the inputs.
    """

    last_output: Nested
    outputs: Nested | None
    states: Nested


def _swap_batch_time(tensor: tf.Tensor) -> tf.Tensor:
    rank = tensor.shape.rank
    return tf.transpose(tensor, [1, 0] + list(range(2, rank)))


def _expand_to(mask_t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshape a (batch,) boolean mask so it broadcasts against ``like``."""
    extra = like.shape.rank - 1
    if extra <= 0:
        return mask_t
    return tf.reshape(mask_t, tf.concat([tf.shape(mask_t), [1] * extra], axis=0))


def _select(mask_t: tf.Tensor, new: list[tf.Tensor], old: list[tf.Tensor]) -> list[tf.Tensor]:
    return [tf.where(_expand_to(mask_t, n), n, o) for n, o in zip(new, old)]


def scan(
    step_fn: StepFn,
    inputs: Nested,
    initial_states: Nested,
    initial_output: Nested,
    *,
    mask: tf.Tensor | None = None,
    constants: list[tf.Tensor] | None = None,
    go_backwards: bool = False,
    unroll: bool = False,
    zero_output_for_mask: bool = False,
    time_major: bool = False,
    return_all_outputs: bool = True,
) -> ScanResult:
    """Run ``step_fn`` over the time axis of ``inputs``.

    Args:
      step_fn: ``step_fn(inputs_t, states) -> (output_t, new_states)``, or
        ``step_fn(inputs_t, states, constants)`` when ``constants`` is given.
        ``states`` and ``new_states`` share the structure of
        ``initial_states``.
      inputs: a tensor or nested structure of tensors, ``(batch, time, ...)``
        or ``(time, batch, ...)`` when ``time_major``.
      initial_states: nested structure of ``(batch, ...)`` tensors.
      initial_output: zeros shaped like one step's output (nested allowed);
        the output before the first valid timestep of a masked row.
      mask: optional boolean ``(batch, time)`` (``(time, batch)`` when
        ``time_major``); False marks timesteps to skip.
      constants: optional list of tensors handed unchanged to every step.
      go_backwards: iterate from the last timestep to the first; outputs
        come back in that reversed order, as in tf_keras.
      unroll: unroll the loop in Python (needs a static time length).
      zero_output_for_mask: output zeros at masked timesteps.
      time_major: layout of ``inputs``, ``mask`` and ``outputs``.
      return_all_outputs: collect every timestep's output.
    """
    flat_inputs = tf.nest.flatten(inputs)
    if not time_major:
        flat_inputs = [_swap_batch_time(x) for x in flat_inputs]
        if mask is not None:
            mask = tf.transpose(mask)
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
    if go_backwards:
        flat_inputs = [tf.reverse(x, [0]) for x in flat_inputs]
        if mask is not None:
            mask = tf.reverse(mask, [0])

    flat_states = tf.nest.flatten(initial_states)
    flat_output = tf.nest.flatten(initial_output)
    extra = () if constants is None else (constants,)

    def one_step(inputs_t, mask_t, states, prev_output):
        packed_inputs = tf.nest.pack_sequence_as(inputs, inputs_t)
        packed_states = tf.nest.pack_sequence_as(initial_states, states)
        output, new_states = step_fn(packed_inputs, packed_states, *extra)
        new_states = tf.nest.flatten(new_states)
        output = tf.nest.flatten(output)
        if len(new_states) != len(states):
            raise ValueError(
                f"The step function returned {len(new_states)} states but the RNN "
                f"carries {len(states)}; a cell's call must return as many states as "
                "its state_size lists."
            )
        for new, old in zip(new_states, states):
            new.set_shape(old.shape)
        if mask_t is not None:
            new_states = _select(mask_t, new_states, states)
            fallback = [tf.zeros_like(o) for o in output] if zero_output_for_mask else prev_output
            output = _select(mask_t, output, fallback)
        return output, new_states

    if unroll:
        time_steps = flat_inputs[0].shape[0]
        if time_steps is None:
            raise ValueError(
                "Cannot unroll an RNN over an undefined time dimension: give the "
                "first layer a fixed input length (input_shape=(T, features)) or "
                "set unroll=False."
            )
        unstacked = [tf.unstack(x, time_steps) for x in flat_inputs]
        masks = tf.unstack(mask, time_steps) if mask is not None else [None] * time_steps
        states, output, collected = flat_states, flat_output, []
        for t in range(time_steps):
            output, states = one_step([u[t] for u in unstacked], masks[t], states, output)
            if return_all_outputs:
                collected.append(output)
        outputs = (
            [tf.stack([o[i] for o in collected]) for i in range(len(flat_output))]
            if return_all_outputs
            else None
        )
        return _finish(initial_states, initial_output, output, outputs, states, time_major)

    time_steps = tf.shape(flat_inputs[0])[0]
    input_tas = [
        tf.TensorArray(x.dtype, size=time_steps, element_shape=x.shape[1:]).unstack(x)
        for x in flat_inputs
    ]
    mask_ta = (
        tf.TensorArray(tf.bool, size=time_steps, element_shape=mask.shape[1:]).unstack(mask)
        if mask is not None
        else None
    )
    output_tas = (
        [tf.TensorArray(o.dtype, size=time_steps, element_shape=o.shape) for o in flat_output]
        if return_all_outputs
        else []
    )

    def body(t, tas, output, states):
        inputs_t = [ta.read(t) for ta in input_tas]
        mask_t = mask_ta.read(t) if mask_ta is not None else None
        output, states = one_step(inputs_t, mask_t, list(states), list(output))
        tas = [ta.write(t, o) for ta, o in zip(tas, output)]
        return t + 1, tas, output, states

    _, output_tas, output, states = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), output_tas, flat_output, flat_states),
        maximum_iterations=time_steps,
        parallel_iterations=32,
    )
    outputs = [ta.stack() for ta in output_tas] if return_all_outputs else None
    return _finish(initial_states, initial_output, output, outputs, states, time_major)


def _finish(initial_states, initial_output, output, outputs, states, time_major) -> ScanResult:
    if outputs is not None and not time_major:
        outputs = [_swap_batch_time(o) for o in outputs]
    return ScanResult(
        last_output=tf.nest.pack_sequence_as(initial_output, list(output)),
        outputs=None if outputs is None else tf.nest.pack_sequence_as(initial_output, outputs),
        states=tf.nest.pack_sequence_as(initial_states, list(states)),
    )
