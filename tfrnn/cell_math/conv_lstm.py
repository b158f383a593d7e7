"""ConvLSTM's math (Shi et al. 2015), free of any Keras: an LSTM whose input
and recurrent transforms are convolutions; gates i, f, c, o.

The input convolution of a block of timesteps (the engine's loop iteration)
runs once, time folded into the batch; each step only runs the recurrent
convolution ('same' padding, stride 1). Internally everything is
channels_last (the only layout the CPU convolutions have); with
channels_first, inputs are transposed once in the projection and states at
the step boundary, so the states and outputs the caller sees keep the
channels_first layout. Also here: the argument checks and shape rules
(``ConvGeometry``) both Kerases' ConvLSTM cells and layers use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from tfrnn.cell_math.dense import MaskDrawer, dropout_masks
from tfrnn.cell_math.steps import StepFunctions

_PADDINGS = ("valid", "same")
_DATA_FORMATS = ("channels_last", "channels_first")
# Spelled out: with data_format=None the eager Conv3D gradient fails to read it.
_TF_FORMATS = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def normalize_tuple(layer_name: str, value: Any, rank: int, what: str) -> tuple[int, ...]:
    """An int or a length-``rank`` sequence of positive ints, as a tuple."""
    values = (value,) * rank if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        values = tuple(int(v) for v in values)
        ok = len(values) == rank and all(v > 0 for v in values)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"Layer '{layer_name}': `{what}` must be a positive integer or a tuple of "
            f"{rank} positive integers, got {value!r}."
        )
    return values


def normalize_padding(layer_name: str, padding: Any) -> str:
    """'valid' or 'same', case-insensitive.

    tf_keras's normalizer also lets 'causal' through, but its ConvLSTM1D then
    fails inside the convolution, so it is refused here with a clear message.
    """
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in _PADDINGS:
        raise ValueError(
            f"Layer '{layer_name}': `padding` must be 'valid' or 'same' "
            f"(case-insensitive), got {padding!r}."
        )
    return value


def normalize_data_format(
    layer_name: str, data_format: Any, default: str = "channels_last"
) -> str:
    """'channels_last' or 'channels_first'; None is ``default`` (each Keras's
    image_data_format)."""
    if data_format is None:
        data_format = default
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in _DATA_FORMATS:
        raise ValueError(
            f"Layer '{layer_name}': `data_format` must be 'channels_last' or "
            f"'channels_first' (or None for the tf_keras image_data_format), got "
            f"{data_format!r}."
        )
    return value


def conv_output_length(length, kernel: int, padding: str, stride: int, dilation: int):
    """Output length of a convolution (tf_keras's formula); works on ints,
    scalar tensors and None."""
    if length is None:
        return None
    if padding == "valid":
        length = length - (kernel + (kernel - 1) * (dilation - 1)) + 1
    return (length + stride - 1) // stride


def to_channels_last(x: tf.Tensor, rank: int) -> tf.Tensor:
    """``(*lead, C, *spatial)`` -> ``(*lead, *spatial, C)`` with ``rank`` spatial axes."""
    lead = x.shape.rank - rank - 1
    perm = list(range(lead)) + list(range(lead + 1, lead + 1 + rank)) + [lead]
    return tf.transpose(x, perm)


def to_channels_first(x: tf.Tensor, rank: int) -> tf.Tensor:
    """``(*lead, *spatial, C)`` -> ``(*lead, C, *spatial)``."""
    lead = x.shape.rank - rank - 1
    perm = list(range(lead)) + [lead + rank] + list(range(lead, lead + rank))
    return tf.transpose(x, perm)


class ConvGeometry:
    """Shape rules of one ConvLSTM configuration (shared by cell and layer)."""

    def __init__(self, cell: Any) -> None:
        self.rank = cell.rank
        self.kernel_size = cell.kernel_size
        self.strides = cell.strides
        self.padding = cell.padding
        self.dilation_rate = cell.dilation_rate
        self.channels_first = cell.data_format == "channels_first"

    def split(self, step_shape: Sequence) -> tuple[list, Any]:
        """(spatial dims, channels) of a one-step shape ``(batch, ...)``."""
        dims = list(step_shape)[1:]
        if self.channels_first:
            return dims[1:], dims[0]
        return dims[:-1], dims[-1]

    def output_spatial(self, spatial: Sequence) -> list:
        return [
            conv_output_length(n, k, self.padding, s, d)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        ]

    def arrange(self, spatial: Sequence, channels: Any) -> list:
        """``spatial`` and ``channels`` in the data_format's order."""
        return [channels, *spatial] if self.channels_first else [*spatial, channels]

    def layout(self, with_time: bool) -> str:
        spatial = {1: ["steps"], 2: ["rows", "cols"], 3: ["dim1", "dim2", "dim3"]}[self.rank]
        lead = ["batch", "time"] if with_time else ["batch"]
        return "(" + ", ".join(lead + self.arrange(spatial, "channels")) + ")"

    def check_input_shape(self, owner: str, shape: Sequence, with_time: bool) -> None:
        """Raise a ValueError naming ``owner`` for shapes no convolution can take.

        ``shape`` is a whole-sequence shape when ``with_time``, else one step's.
        """
        shape = list(shape)
        expected = self.rank + 2 + int(with_time)
        if len(shape) != expected:
            raise ValueError(
                f"Layer '{owner}' expects {expected}D inputs {self.layout(with_time)}, "
                f"got shape {tuple(shape)}."
            )
        spatial, channels = self.split(shape[1:] if with_time else shape)
        if channels is None:
            raise ValueError(
                f"Layer '{owner}': the channel axis of the input must be known, got "
                f"shape {tuple(shape)}."
            )
        for axis, (n, out) in enumerate(zip(spatial, self.output_spatial(spatial))):
            if n is not None and out <= 0:
                k, d = self.kernel_size[axis], self.dilation_rate[axis]
                size = k + (k - 1) * (d - 1)
                raise ValueError(
                    f"Layer '{owner}': with padding='valid' the kernel (size {size} "
                    f"along spatial axis {axis}, dilation included) is larger than the "
                    f"input (size {n} along that axis; input shape {tuple(shape)}). Use "
                    "padding='same', a smaller kernel_size/dilation_rate, or larger inputs."
                )


@dataclass(frozen=True)
class ConvLSTMMath:
    """A ConvLSTM step for one configuration (``rank`` 1, 2 or 3)."""

    rank: int
    strides: tuple[int, ...]
    padding: str
    dilation_rate: tuple[int, ...]
    channels_first: bool
    activation: Callable[[tf.Tensor], tf.Tensor]
    recurrent_activation: Callable[[tf.Tensor], tf.Tensor]
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    draw_masks: MaskDrawer = dropout_masks

    def conv(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return tf.nn.convolution(
            x,
            kernel,
            strides=self.strides,
            padding=self.padding.upper(),
            dilations=self.dilation_rate,
            data_format=_TF_FORMATS[self.rank],
        )

    def recurrent_conv(self, h: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return tf.nn.convolution(
            h, kernel, strides=1, padding="SAME", data_format=_TF_FORMATS[self.rank]
        )

    def step_functions(
        self,
        weights: tuple[tf.Tensor, tf.Tensor, tf.Tensor | None],
        step_sample: tf.Tensor,
        state_shape: tf.Tensor,
        training: Any = None,
    ) -> StepFunctions:
        """The projection and step for one sequence, reading ``weights``
        (kernel, recurrent kernel, bias or None); ``step_sample`` is one
        timestep of input, ``state_shape`` the states' channels_last shape."""
        rank = self.rank
        channels_first = self.channels_first
        sample = to_channels_last(step_sample, rank) if channels_first else step_sample
        input_masks = self.draw_masks(sample, self.dropout, 4, training)
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            zeros = tf.zeros(state_shape, step_sample.dtype)
            recurrent_masks = self.draw_masks(zeros, self.recurrent_dropout, 4, training)
        kernel, recurrent_kernel, bias = weights
        activation, recurrent_activation = self.activation, self.recurrent_activation
        conv, recurrent_conv = self.conv, self.recurrent_conv

        def project(inputs):
            if channels_first:
                inputs = to_channels_last(inputs, rank)
            if input_masks is not None:
                inputs = [inputs * m for m in input_masks]
            sequence = tf.nest.flatten(inputs)[0].shape.rank == rank + 3
            if sequence:
                lead = tf.shape(tf.nest.flatten(inputs)[0])[:2]
                inputs = tf.nest.map_structure(
                    lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0)), inputs
                )
            if input_masks is None:
                z = conv(inputs, kernel)
            else:
                z = tf.concat(
                    [conv(x, k) for x, k in zip(inputs, tf.split(kernel, 4, axis=-1))],
                    axis=-1,
                )
            if bias is not None:
                z = tf.nn.bias_add(z, bias)
            if sequence:
                z = tf.reshape(z, tf.concat([lead, tf.shape(z)[1:]], 0))
            return z

        def step(z_input, states):
            h, c = states[0], states[1]
            if channels_first:
                h, c = to_channels_last(h, rank), to_channels_last(c, rank)
            if recurrent_masks is None:
                z = z_input + recurrent_conv(h, recurrent_kernel)
            else:
                z = z_input + tf.concat(
                    [
                        recurrent_conv(h * m, k)
                        for m, k in zip(recurrent_masks, tf.split(recurrent_kernel, 4, axis=-1))
                    ],
                    axis=-1,
                )
            i, f, g, o = tf.split(z, 4, axis=-1)
            c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
            h = recurrent_activation(o) * activation(c)
            if channels_first:
                h, c = to_channels_first(h, rank), to_channels_first(c, rank)
            return h, [h, c]

        return StepFunctions(project, step, output_is_state=True)
