"""tfrnn for Keras 3: the tfrnn layers and cells as ``keras.Layer``s
(TensorFlow backend), with the same names and arguments, on the same engine,
cell math and cuDNN path as the tf_keras layers in ``tfrnn``.

``import tfrnn.keras3`` imports Keras 3 (``keras``); ``import tfrnn`` alone
does not. Importing this registers the layers with Keras 3, so ``.keras``
files holding them load with ``keras.models.load_model``.
"""

from tfrnn.keras3.backend import require_keras3

require_keras3()

from tfrnn.keras3.bidirectional import Bidirectional  # noqa: E402
from tfrnn.keras3.cells import GRUCell, LSTMCell, SimpleRNNCell  # noqa: E402
from tfrnn.keras3.conv_lstm import (  # noqa: E402
    ConvLSTM1D,
    ConvLSTM1DCell,
    ConvLSTM2D,
    ConvLSTM2DCell,
    ConvLSTM3D,
    ConvLSTM3DCell,
)
from tfrnn.keras3.cudnn_layers import CuDNNGRU, CuDNNLSTM  # noqa: E402
from tfrnn.keras3.layers import GRU, LSTM, SimpleRNN  # noqa: E402
from tfrnn.keras3.rnn import RNN  # noqa: E402
from tfrnn.keras3.stacked import StackedRNNCells  # noqa: E402

__all__ = [
    "Bidirectional",
    "ConvLSTM1D",
    "ConvLSTM1DCell",
    "ConvLSTM2D",
    "ConvLSTM2DCell",
    "ConvLSTM3D",
    "ConvLSTM3DCell",
    "CuDNNGRU",
    "CuDNNLSTM",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "RNN",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
]
