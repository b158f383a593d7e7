"""CuDNNLSTM / CuDNNGRU weights (Keras 2.0.9 - 2.3) -> modern layout (numpy only).

The CuDNN layers keep kernel (in, G*u) and recurrent (u, G*u) buffers whose gate
blocks are in cuDNN's memory layout: each input block, read in C order, is the
cuDNN (units, in) matrix, each recurrent block the (units, units) one. Biases
hold cuDNN's two sets: LSTM (8u,) = input + recurrent biases (summed here);
GRU (6u,) -> (2, 3u), the reset_after=True bias. Gates keep Keras's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tfrnn.compat.gates import LayoutError, check_dense_layout

GATES = {"LSTM": 4, "GRU": 3}


def family(class_name: str) -> str:
    """'LSTM' or 'GRU' for a CuDNN or plain class name."""
    name = class_name.removeprefix("CuDNN")
    if name not in GATES:
        raise LayoutError(f"no cuDNN layout for {class_name}")
    return name


def _input_block(block: np.ndarray) -> np.ndarray:
    units, in_dim = block.shape[1], block.shape[0]
    return block.reshape(units, in_dim).T


def convert(class_name: str, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """[kernel, recurrent_kernel, bias] of a CuDNN layer -> modern LSTM / GRU(reset_after)."""
    name = family(class_name)
    gates = GATES[name]
    if len(weights) != 3:
        raise LayoutError(f"expected 3 arrays, got {len(weights)}")
    kernel, recurrent, bias = (np.asarray(w) for w in weights)
    _, units = check_dense_layout(name, [kernel, recurrent], gates)
    if bias.shape != (2 * gates * units,):
        raise LayoutError(f"cuDNN bias must be ({2 * gates * units},)")
    kernel = np.concatenate([_input_block(b) for b in np.split(kernel, gates, axis=1)], axis=1)
    recurrent = np.concatenate([b.T for b in np.split(recurrent, gates, axis=1)], axis=1)
    input_bias, recurrent_bias = np.split(bias, 2)
    if name == "LSTM":
        return [kernel, recurrent, input_bias + recurrent_bias]
    return [kernel, recurrent, np.stack([input_bias, recurrent_bias])]
