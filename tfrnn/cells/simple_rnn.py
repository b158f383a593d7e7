"""SimpleRNNCell: a fully-connected RNN, ``h = activation(x W + b + h U)``."""

from __future__ import annotations

import tf_keras

from tfrnn.cells.base import DenseGatedCell
from tfrnn.cells.dense_cells import SimpleRNNCellMixin


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class SimpleRNNCell(SimpleRNNCellMixin, DenseGatedCell):
    """Cell class for SimpleRNN (tf_keras's arguments and weights)."""
