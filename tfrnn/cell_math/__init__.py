"""The built-in cells' math, free of any Keras.

What one step of SimpleRNN, GRU and LSTM computes, and how the engine runs
it (``StepFunctions``: the projection the engine hoists out of the loop, the
recurrent step, and the step split for the hand-written gradient), as
functions of plain settings and weight tensors. The tf_keras cells
(``tfrnn.cells``) and the Keras 3 cells (``tfrnn.keras3``) hold the
configuration and the weights and call this one copy of the math.
"""

from tfrnn.cell_math.activations import Activation
from tfrnn.cell_math.dense import DenseCellMath
from tfrnn.cell_math.gru import GRUMath
from tfrnn.cell_math.lstm import LSTMMath
from tfrnn.cell_math.simple_rnn import SimpleRNNMath
from tfrnn.cell_math.steps import EngineCell, StepFunctions

__all__ = [
    "Activation",
    "DenseCellMath",
    "EngineCell",
    "GRUMath",
    "LSTMMath",
    "SimpleRNNMath",
    "StepFunctions",
]
