"""SimpleRNN layer: Fully-connected RNN where the output is fed back as input."""

from __future__ import annotations

import tf_keras

from tfrnn.cells.simple_rnn import SimpleRNNCell
from tfrnn.layers.cell_layer import CellLayer


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class SimpleRNN(CellLayer):
    """Fully-connected RNN where the output is fed back as input.

    Arguments, weights and defaults as tf_keras's `SimpleRNN`.
    """

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
