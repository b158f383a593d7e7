"""tfrnn cells: one step of each recurrent layer's math."""

from tfrnn.cell_math.steps import StepFunctions
from tfrnn.cells.base import RecurrentCell
from tfrnn.cells.conv_lstm import ConvLSTM1DCell, ConvLSTM2DCell, ConvLSTM3DCell, ConvLSTMCell
from tfrnn.cells.gru import GRUCell
from tfrnn.cells.lstm import LSTMCell
from tfrnn.cells.simple_rnn import SimpleRNNCell
from tfrnn.cells.stacked import StackedRNNCells

__all__ = [
    "ConvLSTM1DCell",
    "ConvLSTM2DCell",
    "ConvLSTM3DCell",
    "ConvLSTMCell",
    "GRUCell",
    "LSTMCell",
    "RecurrentCell",
    "SimpleRNNCell",
    "StackedRNNCells",
    "StepFunctions",
]
