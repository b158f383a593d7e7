"""What a ConvLSTM cell is in either Keras: its geometry, weights, states'
shapes and the math it hands the engine (``tfrnn.cell_math.conv_lstm``).

Keras-free: the mixin calls the Keras class's own ``add_weight`` and reads
the settings its constructor stored. Each Keras's cell class adds the
constructor, ``get_initial_state`` as that Keras asks it, and its config.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrnn.argument_checks import check_units
from tfrnn.cell_math.conv_lstm import (
    ConvGeometry,
    ConvLSTMMath,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
)
from tfrnn.cell_math.dense import dropout_masks
from tfrnn.cell_math.steps import EngineCell, StepFunctions
from tfrnn.cells.dense_cells import add_recurrent_weights


class ConvLSTMCellMixin(EngineCell):
    """Geometry, weights and math of a ConvLSTM cell. The Keras class calls
    ``set_geometry`` and sets ``activation``, ``recurrent_activation``,
    ``use_bias``, ``unit_forget_bias``, the initializers, regularizers and
    constraints, ``dropout`` and ``recurrent_dropout``."""

    def set_geometry(
        self,
        rank: int,
        filters: int,
        kernel_size: Any,
        strides: Any,
        padding: str,
        data_format: str | None,
        dilation_rate: Any,
        default_data_format: str,
    ) -> None:
        """Checks and stores the convolution settings (errors name the cell)."""
        if rank not in (1, 2, 3):
            raise ValueError(f"Layer '{self.name}': `rank` must be 1, 2 or 3, got {rank!r}.")
        self.rank = rank
        self.filters = check_units(self.name, filters, "filters")
        self.kernel_size = normalize_tuple(self.name, kernel_size, rank, "kernel_size")
        self.strides = normalize_tuple(self.name, strides, rank, "strides")
        self.padding = normalize_padding(self.name, padding)
        self.data_format = normalize_data_format(self.name, data_format, default_data_format)
        self.dilation_rate = normalize_tuple(self.name, dilation_rate, rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Layer '{self.name}': strides {self.strides} and dilation_rate "
                f"{self.dilation_rate} cannot both be > 1; set one of them to 1."
            )
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
        add_recurrent_weights(
            self,
            kernel_shape=self.kernel_size + (channels, width),
            recurrent_shape=self.kernel_size + (self.filters, width),
            bias_shape=(width,) if self.use_bias else None,
            bias_initializer=self._bias_initializer(),
        )

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        filters, base = self.filters, self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            """The bias initializer's values, with ones for the forget gate."""
            first = base((filters,), *args, **kwargs)
            rest = base((filters * 2,), *args, **kwargs)
            return tf.concat([first, tf.ones_like(first), rest], axis=0)

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

    def zero_states(self, step_sample: tf.Tensor) -> list[tf.Tensor]:
        """``[h, c]`` zeros for a one-step input ``(batch, ...)``, in the cell's data_format."""
        shape = self.state_shape(step_sample)
        if self.data_format == "channels_first":
            shape = tf.concat([shape[:1], shape[-1:], shape[1:-1]], 0)
        zeros = tf.zeros(shape, step_sample.dtype)
        return [zeros, zeros]

    # ------------------------------------------------------------------- math
    def draw_dropout_masks(
        self, sample: tf.Tensor, rate: float, count: int, training: Any
    ) -> list[tf.Tensor] | None:
        """The dropout masks of one sequence (``tfrnn.cell_math.dense.dropout_masks``)."""
        return dropout_masks(sample, rate, count, training)

    def cell_math(self) -> ConvLSTMMath:
        """This cell's math for its current settings."""
        return ConvLSTMMath(
            rank=self.rank,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            channels_first=self.data_format == "channels_first",
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            draw_masks=self.draw_dropout_masks,
        )

    def step_functions(self, step_sample, training=None) -> StepFunctions:
        # Read each variable once per sequence (one mixed-precision cast too).
        bias = None if self.bias is None else tf.convert_to_tensor(self.bias)
        weights = (tf.convert_to_tensor(self.kernel), tf.convert_to_tensor(self.recurrent_kernel))
        return self.cell_math().step_functions(
            (*weights, bias), step_sample, self.state_shape(step_sample), training
        )
