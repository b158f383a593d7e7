"""tfrnn: every Keras recurrent layer, written directly on TensorFlow.

Importing tfrnn registers its layers with tf_keras, so ``.keras`` and ``.h5``
files holding them load with ``tf_keras.models.load_model`` and no
``custom_objects``.
"""

from tfrnn.name_clash_notice import quiet_name_clash_notices
from tfrnn.no_autograph import exempt_from_autograph

exempt_from_autograph(__name__)
quiet_name_clash_notices()

from tfrnn import cells, layers  # noqa: E402
from tfrnn.cells import (  # noqa: E402
    ConvLSTM1DCell,
    ConvLSTM2DCell,
    ConvLSTM3DCell,
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    StackedRNNCells,
)
from tfrnn.layers import (  # noqa: E402
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
