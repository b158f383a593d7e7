"""ConvLSTMCell (1D/2D/3D): an LSTM whose input and recurrent transforms are
convolutions (Shi et al. 2015), with tf_keras's arguments, weights and math.

The input convolution of a block of timesteps (the engine's loop iteration)
runs once, time folded into the batch; each step only runs the recurrent
convolution ('same' padding, stride 1). (One input convolution of the whole
sequence before the loop measured slower: scripts/bench.py's ConvLSTM2D case,
same-process A/B, inference 1.06 against 1.20 of tf_keras's speed, training
0.82 against 1.01.) Internally everything is channels_last (the only layout the CPU
convolutions have); with ``data_format='channels_first'`` inputs are
transposed once in the projection and states at the step boundary, so the
states and outputs the caller sees keep the channels_first layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import tensorflow as tf
import tf_keras
from tf_keras import activations, constraints, initializers, regularizers

from tfrnn.cells.base import (
    RecurrentCell,
    StepFunctions,
    check_rate,
    check_units,
    dropout_masks,
    get_activation,
)

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


def normalize_data_format(layer_name: str, data_format: Any) -> str:
    """'channels_last' or 'channels_first'; None reads tf_keras's image_data_format."""
    if data_format is None:
        data_format = tf_keras.backend.image_data_format()
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

    def __init__(self, cell: ConvLSTMCell) -> None:
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


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTMCell(RecurrentCell):
    """Cell of the N-D convolutional LSTM (``rank`` 1, 2 or 3).

    Arguments, defaults and weights as tf_keras's ``ConvLSTMCell``: kernel
    ``(*kernel_size, channels, 4*filters)``, recurrent kernel
    ``(*kernel_size, filters, 4*filters)``, bias ``(4*filters,)``; gates
    i, f, c, o. States ``[h, c]`` are shaped like one output step,
    ``(batch, *output_spatial, filters)`` (channels_first: filters first).
    """

    fixed_rank: ClassVar[int | None] = None

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = "tanh",
        recurrent_activation: Any = "hard_sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(f"Layer '{self.name}': `rank` must be 1, 2 or 3, got {rank!r}.")
        self.rank = rank
        self.filters = check_units(self.name, filters, "filters")
        self.kernel_size = normalize_tuple(self.name, kernel_size, rank, "kernel_size")
        self.strides = normalize_tuple(self.name, strides, rank, "strides")
        self.padding = normalize_padding(self.name, padding)
        self.data_format = normalize_data_format(self.name, data_format)
        self.dilation_rate = normalize_tuple(self.name, dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Layer '{self.name}': strides {self.strides} and dilation_rate "
                f"{self.dilation_rate} cannot both be > 1; set one of them to 1."
            )
        self.activation = get_activation(self.name, activation, "activation")
        self.recurrent_activation = get_activation(
            self.name, recurrent_activation, "recurrent_activation"
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate(self.name, dropout, "dropout")
        self.recurrent_dropout = check_rate(self.name, recurrent_dropout, "recurrent_dropout")
        self.geometry = ConvGeometry(self)
        self._output_spatial = [None] * rank

    # ----------------------------------------------------------------- shapes
    @property
    def state_size(self):
        shape = tf.TensorShape(self.geometry.arrange(self._output_spatial, self.filters))
        return [shape, shape]

    @property
    def output_size(self):
        return tf.TensorShape(self.geometry.arrange(self._output_spatial, self.filters))

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape).as_list()
        self.geometry.check_input_shape(self.name, input_shape, with_time=False)
        spatial, channels = self.geometry.split(input_shape)
        self._output_spatial = self.geometry.output_spatial(spatial)
        width = 4 * self.filters
        self.kernel = self.add_weight(
            shape=self.kernel_size + (channels, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=self.kernel_size + (self.filters, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(width,),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.built = True

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        filters, base = self.filters, self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            return tf.concat(
                [
                    base((filters,), *args, **kwargs),
                    initializers.get("ones")((filters,), *args, **kwargs),
                    base((filters * 2,), *args, **kwargs),
                ],
                axis=0,
            )

        return forget_bias_one

    def state_shape(self, step_sample: tf.Tensor) -> tf.Tensor:
        """Dynamic ``(batch, *output_spatial, filters)`` (channels_last) for a
        one-step input ``(batch, ...)`` in the cell's data_format."""
        dims = tf.unstack(tf.shape(step_sample))
        spatial, _ = self.geometry.split(dims)
        static = self._output_spatial
        spatial = [
            s if s is not None else d
            for s, d in zip(static, self.geometry.output_spatial(spatial))
        ]
        return tf.stack([dims[0], *spatial, self.filters])

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            shape = self.state_shape(inputs)
            if self.data_format == "channels_first":
                shape = tf.concat([shape[:1], shape[-1:], shape[1:-1]], 0)
            zeros = tf.zeros(shape, inputs.dtype)
            return [zeros, zeros]
        if None in self._output_spatial:
            raise ValueError(
                f"Layer '{self.name}': the spatial input dimensions are unknown, so the "
                "initial state needs `inputs` to take its shape from."
            )
        return super().get_initial_state(batch_size=batch_size, dtype=dtype)

    # ------------------------------------------------------------------- math
    def _conv(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return tf.nn.convolution(
            x,
            kernel,
            strides=self.strides,
            padding=self.padding.upper(),
            dilations=self.dilation_rate,
            data_format=_TF_FORMATS[self.rank],
        )

    def _recurrent_conv(self, h: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return tf.nn.convolution(
            h, kernel, strides=1, padding="SAME", data_format=_TF_FORMATS[self.rank]
        )

    def step_functions(self, step_sample, training=None) -> StepFunctions:
        rank = self.rank
        channels_first = self.data_format == "channels_first"
        sample = to_channels_last(step_sample, rank) if channels_first else step_sample
        input_masks = dropout_masks(sample, self.dropout, 4, training)
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            zeros = tf.zeros(self.state_shape(step_sample), step_sample.dtype)
            recurrent_masks = dropout_masks(zeros, self.recurrent_dropout, 4, training)
        # Read each variable once per sequence (one mixed-precision cast too).
        kernel = tf.convert_to_tensor(self.kernel)
        recurrent_kernel = tf.convert_to_tensor(self.recurrent_kernel)
        bias = None if self.bias is None else tf.convert_to_tensor(self.bias)
        activation, recurrent_activation = self.activation, self.recurrent_activation
        conv, recurrent_conv = self._conv, self._recurrent_conv

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

        return StepFunctions(project, step)

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        if self.fixed_rank is None:
            config["rank"] = self.rank
        return {**super().get_config(), **config}


class _FixedRankCell(ConvLSTMCell):
    """A ConvLSTMCell whose rank is fixed by the class (1D, 2D, 3D)."""

    def __init__(self, filters: int, kernel_size: Any, **kwargs: Any) -> None:
        kwargs.pop("rank", None)
        super().__init__(self.fixed_rank, filters, kernel_size, **kwargs)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM1DCell(_FixedRankCell):
    """Cell of ConvLSTM1D: inputs ``(batch, steps, channels)`` per timestep."""

    fixed_rank = 1


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM2DCell(_FixedRankCell):
    """Cell of ConvLSTM2D: inputs ``(batch, rows, cols, channels)`` per timestep."""

    fixed_rank = 2


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM3DCell(_FixedRankCell):
    """Cell of ConvLSTM3D: inputs ``(batch, d1, d2, d3, channels)`` per timestep."""

    fixed_rank = 3
