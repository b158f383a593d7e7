"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: convolutional LSTM layers on the engine."""

from __future__ import annotations

from typing import Any, ClassVar

import tf_keras

from tfrnn.cells.conv_lstm import (
    ConvLSTM1DCell,
    ConvLSTM2DCell,
    ConvLSTM3DCell,
    ConvLSTMCell,
)
from tfrnn.layers.cell_layer import CellLayer
from tfrnn.layers.conv_layer_mixin import ConvLSTMLayerMixin


class ConvLSTM(ConvLSTMLayerMixin, CellLayer):
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.input_spec = tf_keras.layers.InputSpec(ndim=self.cell.rank + 3)


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
