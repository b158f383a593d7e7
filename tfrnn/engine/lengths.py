"""How many timesteps a run needs, and runs shorter or longer than the input.

Pure TensorFlow (no Keras import). Past the last timestep at which any row
of a batch is unmasked (the longest real row of a right-padded batch) every
step is fully masked: the states keep their values and each output repeats
the row's previous output (or is zero with ``zero_output_for_mask``). So a
run can stop there and those outputs be filled in afterwards, with exactly
the numbers the full run gives. The same fill lets a run be padded up to a
longer, masked length (a bucket length, so that an XLA-compiled loop sees a
few lengths only) at no cost.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrnn.engine.scan import ScanResult

#: the lengths compiled loops take: 1, 2, 3, 4, 6, 8, 12, 16, ... (powers
#: of two and 1.5 times them); the padded steps are never run
BUCKET_LENGTHS = tuple(sorted({1, *(2**k for k in range(31)), *(3 * 2**k for k in range(30))}))


def active_length(mask: tf.Tensor) -> tf.Tensor:
    """``1 +`` the last timestep at which any row of the time-major boolean
    ``mask`` ``(time, batch)`` is True (at least 1, at most the time length)."""
    any_valid = tf.cast(tf.reduce_any(tf.cast(mask, tf.bool), axis=1), tf.int32)
    steps = tf.shape(mask)[0]
    from_end = tf.argmax(tf.reverse(any_valid, [0]), output_type=tf.int32)
    length = tf.where(tf.reduce_any(any_valid > 0), steps - from_end, 1)
    return tf.minimum(length, steps)


def bucket_length(length: tf.Tensor) -> tf.Tensor:
    """The smallest of ``BUCKET_LENGTHS`` at least ``length`` (int32 scalar)."""
    buckets = tf.constant(BUCKET_LENGTHS, tf.int32)
    index = tf.searchsorted(buckets, tf.reshape(length, [1]), side="left")[0]
    return tf.gather(buckets, tf.minimum(index, len(BUCKET_LENGTHS) - 1))


def pad_time(x: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """Time-major ``x`` zero-padded (False for a mask) to ``length`` steps."""
    pad = tf.maximum(length - tf.shape(x)[0], 0)
    return tf.pad(x, [[0, pad]] + [[0, 0]] * (x.shape.rank - 1))


def run_mask(mask: tf.Tensor | None, steps: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
    """``mask``, or all True ``(steps, batch)`` when there is none."""
    if mask is not None:
        return tf.cast(mask, tf.bool)
    return tf.ones(tf.stack([steps, batch]), tf.bool)


def restore_time(
    result: ScanResult,
    active: tf.Tensor,
    steps: tf.Tensor,
    *,
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> ScanResult:
    """The result of the full ``steps``-long run from ``result``, a run of
    at least ``steps`` timesteps (padded ones last, fully masked) that ran
    the timesteps ``0:active`` only (``scan``'s ``active_range``): every
    timestep from ``active`` on is fully masked. Outputs are time-major, in
    the order the steps ran (last timestep first with ``go_backwards``)."""
    skipped = steps - active
    last_output = result.last_output
    if zero_output_for_mask and not go_backwards:
        # the full run's last step is fully masked whenever steps were skipped
        last_output = tf.nest.map_structure(
            lambda o: tf.where(skipped > 0, tf.zeros_like(o), o), last_output
        )
    outputs = result.outputs
    if outputs is not None:
        outputs = tf.nest.map_structure(
            lambda o, last: _restore_outputs(
                o, last, active, steps, go_backwards, zero_output_for_mask
            ),
            outputs,
            result.last_output,
        )
    return result._replace(last_output=last_output, outputs=outputs)


def _restore_outputs(
    outputs: tf.Tensor,
    last: tf.Tensor,
    active: tf.Tensor,
    steps: tf.Tensor,
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> tf.Tensor:
    run_steps = tf.shape(outputs)[0]
    if go_backwards:
        # the padded timesteps ran first; the skipped ones before any valid
        # step, so their outputs are the zeros left in place
        return outputs[run_steps - steps :]
    outputs = outputs[:steps]
    fill = tf.zeros_like(last) if zero_output_for_mask else last
    time = tf.range(steps)
    after = tf.reshape(time >= active, [-1] + [1] * last.shape.rank)
    return tf.where(after, fill[tf.newaxis], outputs)


def static_length(x: Any) -> int | None:
    """The static time length of time-major ``x`` (a nested structure's first tensor)."""
    return tf.nest.flatten(x)[0].shape[0]
