"""The cuDNN path: ``tf.raw_ops.CudnnRNNV3`` for LSTM and GRU.

Pure TensorFlow (no Keras import). Three jobs:

- pack weights into the op's opaque ``params`` buffer in cuDNN's canonical
  order: for each direction, every gate's input matrix, every gate's
  recurrent matrix, then every gate's input bias and recurrent bias. Each
  matrix is stored row-major as ``(units, in)``, i.e. a Keras kernel slice
  transposed. cuDNN's gate orders: LSTM ``i, f, c, o`` (as Keras), GRU
  ``r, z, h`` (Keras: ``z, r, h``);
- turn a mask into ``sequence_lengths`` (cuDNN needs right padding and no
  fully masked row; ``mask_supported`` says whether a mask qualifies);
- run the op with the engine's conventions: ``go_backwards`` reverses only
  each sequence's valid part, outputs come back in the engine's order, and
  padded timesteps repeat the last valid output (the engine's answer with
  ``zero_output_for_mask=False``), where cuDNN itself writes zeros.

``CudnnRNNV3`` has GPU kernels only: these functions build graphs anywhere
but run only on a GPU.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

LSTM = "lstm"
GRU = "gru"
GATES = {LSTM: 4, GRU: 3}


class CudnnResult(NamedTuple):
    """Outputs and final states of one cuDNN RNN call.

    ``outputs`` has the layout of the inputs (``time_major`` or not);
    ``states`` is ``[h]`` (GRU) or ``[h, c]`` (LSTM), each ``(batch, units)``.
    """

    outputs: tf.Tensor
    states: list[tf.Tensor]


# ------------------------------------------------------------------ packing
def canonical_to_params(
    weights: list[tf.Tensor], biases: list[tf.Tensor], transpose_weights: bool
) -> tf.Tensor:
    """Flatten per-gate matrices then per-gate biases into one params vector.

    ``transpose_weights``: the matrices are Keras slices ``(in, units)`` to be
    stored as cuDNN's ``(units, in)``; False stores them as they are (the
    layout of tf_keras's CuDNNLSTM/CuDNNGRU weights).
    """
    flat = [tf.reshape(tf.transpose(w) if transpose_weights else w, [-1]) for w in weights]
    flat += [tf.reshape(b, [-1]) for b in biases]
    return tf.concat(flat, axis=0)


def _gru_cudnn_order(parts: list[tf.Tensor]) -> list[tf.Tensor]:
    """Keras ``z, r, h`` -> cuDNN ``r, z, h``."""
    return [parts[1], parts[0], parts[2]]


def lstm_params(kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """Params of a Keras LSTM: kernel ``(in, 4u)``, recurrent ``(u, 4u)``, bias ``(4u,)``.

    The Keras bias becomes cuDNN's recurrent biases; the input biases are zero.
    """
    weights = tf.split(kernel, 4, axis=1) + tf.split(recurrent_kernel, 4, axis=1)
    biases = tf.split(tf.concat([tf.zeros_like(bias), bias], 0), 8)
    return canonical_to_params(weights, biases, transpose_weights=True)


def gru_params(kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """Params of a Keras GRU(reset_after=True): bias ``(2, 3u)`` = input, recurrent."""
    input_bias, recurrent_bias = tf.unstack(bias)
    weights = _gru_cudnn_order(tf.split(kernel, 3, axis=1)) + _gru_cudnn_order(
        tf.split(recurrent_kernel, 3, axis=1)
    )
    biases = _gru_cudnn_order(tf.split(input_bias, 3)) + _gru_cudnn_order(
        tf.split(recurrent_bias, 3)
    )
    return canonical_to_params(weights, biases, transpose_weights=True)


def cudnn_layer_params(
    mode: str, kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor
) -> tf.Tensor:
    """Params of CuDNNLSTM/CuDNNGRU weights (tf_keras's layout).

    Kernel ``(in, G*u)`` and recurrent kernel ``(u, G*u)`` hold each gate's
    cuDNN matrix as a row-major block (no transpose); bias ``(2*G*u,)`` is the
    input biases then the recurrent biases, gates in Keras order.
    """
    gates = GATES[mode]
    weights = tf.split(kernel, gates, axis=1) + tf.split(recurrent_kernel, gates, axis=1)
    biases = tf.split(bias, 2 * gates)
    if mode == GRU:
        weights = _gru_cudnn_order(weights[:3]) + _gru_cudnn_order(weights[3:])
        biases = _gru_cudnn_order(biases[:3]) + _gru_cudnn_order(biases[3:])
    return canonical_to_params(weights, biases, transpose_weights=False)


def cudnn_layer_to_keras(
    mode: str, kernel: tf.Tensor, recurrent_kernel: tf.Tensor, bias: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """CuDNN-layer weights as Keras-layout ``kernel, recurrent_kernel, input_bias,
    recurrent_bias`` (gates in Keras order), for the engine's equations."""
    gates = GATES[mode]
    units = recurrent_kernel.shape[0]
    input_dim = kernel.shape[0]
    kernels = [
        tf.transpose(tf.reshape(k, [units, input_dim])) for k in tf.split(kernel, gates, axis=1)
    ]
    recurrents = [tf.transpose(r) for r in tf.split(recurrent_kernel, gates, axis=1)]
    input_bias, recurrent_bias = tf.split(bias, 2)
    return tf.concat(kernels, 1), tf.concat(recurrents, 1), input_bias, recurrent_bias


# ------------------------------------------------------------------ masks
def mask_supported(mask: tf.Tensor, time_major: bool) -> tf.Tensor:
    """Boolean scalar: the mask is right-padded with no fully masked row."""
    mask = tf.cast(mask, tf.bool)
    if time_major:
        mask = tf.transpose(mask)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    right_padded = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
    return tf.logical_and(right_padded, tf.reduce_all(lengths > 0))


def sequence_lengths(mask: tf.Tensor, time_major: bool) -> tf.Tensor:
    """``(batch,)`` int32 valid lengths of a right-padded mask."""
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=0 if time_major else 1)


# ------------------------------------------------------------------ the call
def _axes(time_major: bool) -> tuple[int, int]:
    return (0, 1) if time_major else (1, 0)


def _full_lengths(inputs: tf.Tensor, time_major: bool) -> tf.Tensor:
    seq_axis, batch_axis = _axes(time_major)
    return tf.fill([tf.shape(inputs)[batch_axis]], tf.shape(inputs)[seq_axis])


def _carry_last_output(
    outputs: tf.Tensor, h: tf.Tensor, lengths: tf.Tensor, time_major: bool
) -> tf.Tensor:
    """Padded timesteps (cuDNN: zeros) repeat each row's final output ``h``."""
    seq_axis, _ = _axes(time_major)
    valid = tf.sequence_mask(lengths, tf.shape(outputs)[seq_axis])
    if time_major:
        valid = tf.transpose(valid)
    return tf.where(valid[..., None], outputs, tf.expand_dims(h, seq_axis))


def _call_op(inputs, states, params, mode, lengths, time_major, direction):
    seq_axis, _ = _axes(time_major)
    input_h = states[0] if direction == "bidirectional" else tf.expand_dims(states[0], seq_axis)
    if mode == LSTM:
        input_c = (
            states[1] if direction == "bidirectional" else tf.expand_dims(states[1], seq_axis)
        )
    else:
        input_c = tf.zeros([], inputs.dtype)
    outputs, h, c, _, _ = tf.raw_ops.CudnnRNNV3(
        input=inputs,
        input_h=input_h,
        input_c=input_c,
        params=params,
        sequence_lengths=lengths,
        rnn_mode=mode,
        input_mode="linear_input",
        direction=direction,
        is_training=True,
        time_major=time_major,
    )
    return outputs, h, c


def cudnn_rnn(
    inputs: tf.Tensor,
    states: list[tf.Tensor],
    params: tf.Tensor,
    *,
    mode: str,
    mask: tf.Tensor | None = None,
    go_backwards: bool = False,
    time_major: bool = False,
    zero_output_for_mask: bool = False,
) -> CudnnResult:
    """One unidirectional cuDNN LSTM/GRU over ``inputs`` with the engine's semantics.

    ``mask`` (same layout as the inputs' first two axes) must satisfy
    ``mask_supported``. With ``go_backwards`` the outputs come back in
    processing order, as the engine returns them: leading padded steps are
    zeros, then the outputs for the valid steps from last to first.
    ``zero_output_for_mask``: padded steps are zeros rather than repeating
    the last valid output (as the engine's flag).
    """
    seq_axis, batch_axis = _axes(time_major)
    lengths = (
        _full_lengths(inputs, time_major) if mask is None else sequence_lengths(mask, time_major)
    )
    if go_backwards:
        inputs = (
            tf.reverse(inputs, [seq_axis])
            if mask is None
            else tf.reverse_sequence(inputs, lengths, seq_axis=seq_axis, batch_axis=batch_axis)
        )
    outputs, h, c = _call_op(inputs, states, params, mode, lengths, time_major, "unidirectional")
    h = tf.squeeze(h, seq_axis)
    new_states = [h] if mode == GRU else [h, tf.squeeze(c, seq_axis)]
    if mask is not None:
        if go_backwards:
            # [o_0 .. o_n, 0 ..] -> [0 .., o_0 .. o_n]: the engine's order.
            outputs = tf.reverse(
                tf.reverse_sequence(outputs, lengths, seq_axis=seq_axis, batch_axis=batch_axis),
                [seq_axis],
            )
        elif not zero_output_for_mask:
            outputs = _carry_last_output(outputs, h, lengths, time_major)
    return CudnnResult(outputs, new_states)


def bidirectional_params(forward_params: tf.Tensor, backward_params: tf.Tensor) -> tf.Tensor:
    """Params of a bidirectional call: each direction's block, forward first."""
    return tf.concat([forward_params, backward_params], axis=0)


def cudnn_bidirectional(
    inputs: tf.Tensor,
    forward_states: list[tf.Tensor],
    backward_states: list[tf.Tensor],
    forward_params: tf.Tensor,
    backward_params: tf.Tensor,
    *,
    mode: str,
    mask: tf.Tensor | None = None,
    time_major: bool = False,
    zero_output_for_mask: bool = False,
) -> tuple[CudnnResult, CudnnResult]:
    """Both directions of a bidirectional LSTM/GRU in one ``direction='bidirectional'`` call.

    Returns ``(forward, backward)``. The forward outputs follow the engine
    (padded steps repeat the last valid output, or are zeros with
    ``zero_output_for_mask``, as tfrnn.Bidirectional sets). The backward outputs are
    time-aligned (the order ``tfrnn.Bidirectional`` gives after reversing
    the backward layer's sequence): at step ``t`` the state after reading
    the valid inputs from the last down to ``t``, zeros at padded steps.
    The backward final states are those after reading step 0.
    """
    seq_axis, _ = _axes(time_major)
    lengths = (
        _full_lengths(inputs, time_major) if mask is None else sequence_lengths(mask, time_major)
    )
    states = [tf.stack([f, b], axis=seq_axis) for f, b in zip(forward_states, backward_states)]
    params = bidirectional_params(forward_params, backward_params)
    outputs, h, c = _call_op(inputs, states, params, mode, lengths, time_major, "bidirectional")
    forward_out, backward_out = tf.split(outputs, 2, axis=-1)
    h_f, h_b = tf.unstack(h, axis=seq_axis)
    forward_states_out, backward_states_out = [h_f], [h_b]
    if mode == LSTM:
        c_f, c_b = tf.unstack(c, axis=seq_axis)
        forward_states_out.append(c_f)
        backward_states_out.append(c_b)
    if mask is not None and not zero_output_for_mask:
        forward_out = _carry_last_output(forward_out, h_f, lengths, time_major)
    return (
        CudnnResult(forward_out, forward_states_out),
        CudnnResult(backward_out, backward_states_out),
    )
