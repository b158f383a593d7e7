"""LSTM layer: Long Short-Term Memory layer - Hochreiter 1997."""

from __future__ import annotations

from typing import Any

import tf_keras

from tfrnn.cells.lstm import LSTMCell
from tfrnn.engine import cudnn
from tfrnn.layers.cell_layer import CellLayer
from tfrnn.layers.cudnn_selection import CudnnSelection


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class LSTM(CudnnSelection, CellLayer):
    """Long Short-Term Memory layer - Hochreiter 1997.

    Arguments, weights and defaults as tf_keras's `LSTM`, plus ``use_cudnn``
    ('auto', True or False): 'auto' runs CudnnRNNV3 whenever the layer runs
    on a GPU and the configuration allows it (tanh, sigmoid, use_bias, no
    recurrent dropout, no unroll, mask right-padded or none); True does the
    same but raises ValueError if the configuration does not allow it; False
    always runs the generic engine. Both paths give the same numbers.
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"
    cudnn_mode = cudnn.LSTM

    def __init__(self, units: int | None = None, use_cudnn: Any = "auto", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self._setup_cudnn(use_cudnn)

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}
