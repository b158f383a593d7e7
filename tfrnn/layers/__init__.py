"""tfrnn layers: tf_keras layers running on the tfrnn engine."""

from tfrnn.layers.bidirectional import Bidirectional
from tfrnn.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from tfrnn.layers.cudnn_layers import CuDNNGRU, CuDNNLSTM
from tfrnn.layers.gru import GRU
from tfrnn.layers.lstm import LSTM
from tfrnn.layers.rnn import RNN
from tfrnn.layers.simple_rnn import SimpleRNN

__all__ = [
    "Bidirectional",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "CuDNNGRU",
    "CuDNNLSTM",
    "GRU",
    "LSTM",
    "RNN",
    "SimpleRNN",
]
