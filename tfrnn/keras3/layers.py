"""SimpleRNN, GRU and LSTM for Keras 3: tfrnn's arguments (plus Keras 3's
``seed``), each building its cell from them (``CellLayerMixin``); GRU and
LSTM choose cuDNN as the tf_keras layers do (``CudnnSelection``)."""

from __future__ import annotations

from typing import Any

import keras

from tfrnn.engine import cudnn
from tfrnn.keras3.cells import GRUCell, LSTMCell, SimpleRNNCell
from tfrnn.keras3.rnn import RNN
from tfrnn.layers.cell_layer_mixin import CellLayerMixin
from tfrnn.layers.cudnn_selection import CudnnSelection


class CellLayer(CellLayerMixin, RNN):
    """An RNN over a cell it builds from its own arguments, in Keras 3."""

    def sequence_input_spec(self):
        return keras.InputSpec(ndim=3)

    def serialized_activity_regularizer(self):
        return keras.regularizers.serialize(self.activity_regularizer)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)


class CudnnCellLayer(CudnnSelection, CellLayer):
    """GRU and LSTM: ``use_cudnn`` ('auto', True or False) as in ``tfrnn.LSTM``."""

    def __init__(self, units: int | None = None, use_cudnn: Any = "auto", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self._setup_cudnn(use_cudnn)

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}


@keras.saving.register_keras_serializable(package="tfrnn")
class SimpleRNN(CellLayer):
    """Fully-connected RNN where the output is fed back as input (Keras 3)."""

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"


@keras.saving.register_keras_serializable(package="tfrnn")
class GRU(CudnnCellLayer):
    """Gated Recurrent Unit - Cho et al. 2014 (Keras 3; both reset_after conventions)."""

    cell_class = GRUCell
    cell_name = "gru_cell"
    cudnn_mode = cudnn.GRU


@keras.saving.register_keras_serializable(package="tfrnn")
class LSTM(CudnnCellLayer):
    """Long Short-Term Memory layer - Hochreiter 1997 (Keras 3)."""

    cell_class = LSTMCell
    cell_name = "lstm_cell"
    cudnn_mode = cudnn.LSTM
