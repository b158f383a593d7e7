"""tfrnn: every Keras recurrent layer, written directly on TensorFlow.

Importing tfrnn registers its layers with tf_keras, so ``.keras`` and ``.h5``
files holding them load with ``tf_keras.models.load_model`` and no
``custom_objects``.
"""

from tfrnn import cells, layers
from tfrnn.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from tfrnn.layers import GRU, LSTM, RNN, Bidirectional, SimpleRNN

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
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
