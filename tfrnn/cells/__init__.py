"""tfrnn cells: one step of each recurrent layer's math."""

from tfrnn.cells.base import RecurrentCell, StepFunctions
from tfrnn.cells.gru import GRUCell
from tfrnn.cells.lstm import LSTMCell
from tfrnn.cells.simple_rnn import SimpleRNNCell
from tfrnn.cells.stacked import StackedRNNCells

__all__ = [
    "GRUCell",
    "LSTMCell",
    "RecurrentCell",
    "SimpleRNNCell",
    "StackedRNNCells",
    "StepFunctions",
]
