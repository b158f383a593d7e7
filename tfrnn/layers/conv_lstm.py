"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: convolutional LSTM layers on the engine."""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf
import tf_keras

from tfrnn.cells.conv_lstm import (
    ConvLSTM1DCell,
    ConvLSTM2DCell,
    ConvLSTM3DCell,
    ConvLSTMCell,
)
from tfrnn.layers.cell_layer import CellLayer


class ConvLSTM(CellLayer):
    """An RNN over a ConvLSTM cell of ``cell_class``, built from flat arguments.

    Arguments, defaults, config and weights as tf_keras's ``ConvLSTM1D/2D/3D``:
    ``filters, kernel_size, strides, padding, data_format, dilation_rate,
    activation, recurrent_activation ('hard_sigmoid'), use_bias,
    kernel/recurrent/bias initializers, unit_forget_bias, kernel/recurrent/
    bias regularizers, activity_regularizer, kernel/recurrent/bias
    constraints, return_sequences, return_state, go_backwards, stateful,
    dropout, recurrent_dropout``. Inputs are ``(batch, time, *spatial,
    channels)`` (channels_first: ``(batch, time, channels, *spatial)``).
    """

    cell_class: ClassVar[type[ConvLSTMCell]]
    cell_name = "conv_lstm_cell"
    positional_args = ("filters", "kernel_size")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.input_spec = tf_keras.layers.InputSpec(ndim=self.cell.rank + 3)

    # ----------------------------------------------------------------- shapes
    def _sequence_shape(self, input_shape) -> list:
        """``input_shape`` as a batch-major list (first input of a list)."""
        if isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], int):
            input_shape = input_shape[0]
        shape = tf.TensorShape(input_shape).as_list()
        if self.time_major and len(shape) >= 2:
            shape[0], shape[1] = shape[1], shape[0]
        return shape

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        geometry = self.cell.geometry
        geometry.check_input_shape(self.name, shape, with_time=True)
        if self.stateful and None in geometry.split(shape[1:])[0]:
            raise ValueError(
                f"Layer '{self.name}' is stateful, so its spatial input dimensions must "
                f"be known; got input shape {tuple(shape)}."
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        geometry = self.cell.geometry
        spatial, _ = geometry.split(shape[1:])
        step = [shape[0], *geometry.arrange(geometry.output_spatial(spatial), self.cell.filters)]
        if self.return_sequences:
            lead = [shape[1], shape[0]] if self.time_major else [shape[0], shape[1]]
            output = tf.TensorShape(lead + step[1:])
        else:
            output = tf.TensorShape(step)
        if self.return_state:
            return [output, tf.TensorShape(step), tf.TensorShape(step)]
        return output

    def get_initial_state(self, inputs):
        """Zero states shaped from ``inputs`` (spatial sizes may be dynamic)."""
        first = tf.nest.flatten(inputs)[0]
        step_sample = first[0] if self.time_major else first[:, 0]
        return self.cell.get_initial_state(inputs=step_sample)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM1D(ConvLSTM):
    """1D convolutional LSTM: inputs ``(batch, time, steps, channels)``."""

    cell_class = ConvLSTM1DCell


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM2D(ConvLSTM):
    """2D convolutional LSTM: inputs ``(batch, time, rows, cols, channels)``."""

    cell_class = ConvLSTM2DCell


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM3D(ConvLSTM):
    """3D convolutional LSTM: inputs ``(batch, time, d1, d2, d3, channels)``."""

    cell_class = ConvLSTM3DCell
