"""tfrnn: every Keras recurrent layer, written directly on TensorFlow.

Importing tfrnn registers its layers with tf_keras, so ``.keras`` and ``.h5``
files holding them load with ``tf_keras.models.load_model`` and no
``custom_objects``.
"""

from tfrnn import cells, layers
from tfrnn.cells import (
    ConvLSTM1DCell,
    ConvLSTM2DCell,
    ConvLSTM3DCell,
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedRNNCells,
)
from tfrnn.layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    ConvLSTM1D,
    ConvLSTM2D,
    ConvLSTM3D,
    CuDNNGRU,
    CuDNNLSTM,
    SimpleRNN,
)

__version__ = "0.1.0"

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
    "cells",
    "layers",
]
