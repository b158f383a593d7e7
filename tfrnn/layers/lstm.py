"""LSTM layer: Long Short-Term Memory layer - Hochreiter 1997."""

from __future__ import annotations

import tf_keras

from tfrnn.cells.lstm import LSTMCell
from tfrnn.layers.cell_layer import CellLayer


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class LSTM(CellLayer):
    """Long Short-Term Memory layer - Hochreiter 1997.

    Arguments, weights and defaults as tf_keras's `LSTM`.
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"
