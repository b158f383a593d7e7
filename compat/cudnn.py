"""CuDNNLSTM / CuDNNGRU weights (Keras 2.0.9 - 2.3) <-> modern layout (numpy only).

The CuDNN layers keep kernel (in, G*u) and recurrent (u, G*u) buffers whose gate
blocks are in cuDNN's memory layout: each input block, read in C order, is the
cuDNN (units, in) matrix, each recurrent block the (units, units) one. Biases
hold cuDNN's two sets: LSTM (8u,) = input + recurrent biases (summed here);
GRU (6u,) -> (2, 3u), the reset_after=True bias. Gates keep Keras's order.
``tfrnn.CuDNNLSTM``/``CuDNNGRU`` keep this layout, so ``layer_weights`` passes
cuDNN lists through and packs modern ones back into it.
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


def _checked(class_name: str, weights: Sequence[np.ndarray]) -> tuple[str, int, list]:
    """(family, units, [kernel, recurrent, bias]) of a cuDNN-layout list."""
    name = family(class_name)
    gates = GATES[name]
    if len(weights) != 3:
        raise LayoutError(f"expected 3 arrays, got {len(weights)}")
    arrays = [np.asarray(w) for w in weights]
    _, units = check_dense_layout(name, arrays[:2], gates)
    if arrays[2].shape != (2 * gates * units,):
        raise LayoutError(f"cuDNN bias must be ({2 * gates * units},)")
    return name, units, arrays


def is_cudnn_layout(class_name: str, weights: Sequence[np.ndarray]) -> bool:
    """Whether ``weights`` are a CuDNN layer's [kernel, recurrent, bias (2*G*u,)]."""
    try:
        _checked(class_name, weights)
    except LayoutError:
        return False
    return True


def convert(class_name: str, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """[kernel, recurrent_kernel, bias] of a CuDNN layer -> modern LSTM / GRU(reset_after)."""
    name, _, (kernel, recurrent, bias) = _checked(class_name, weights)
    gates = GATES[name]
    kernel = np.concatenate([_input_block(b) for b in np.split(kernel, gates, axis=1)], axis=1)
    recurrent = np.concatenate([b.T for b in np.split(recurrent, gates, axis=1)], axis=1)
    input_bias, recurrent_bias = np.split(bias, 2)
    if name == "LSTM":
        return [kernel, recurrent, input_bias + recurrent_bias]
    return [kernel, recurrent, np.stack([input_bias, recurrent_bias])]


def from_modern(class_name: str, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Modern LSTM / GRU(reset_after=True) weights -> a CuDNN layer's layout.

    An LSTM's single bias becomes the input bias (recurrent biases zero: cuDNN
    adds the two); a missing bias becomes zeros. A GRU with reset_after=False
    computes something cuDNN cannot, so its weights raise LayoutError.
    """
    name = family(class_name)
    gates = GATES[name]
    arrays = [np.asarray(w) for w in weights]
    if len(arrays) not in (2, 3):
        raise LayoutError(f"expected 2 or 3 arrays, got {len(arrays)}")
    in_dim, units = check_dense_layout(name, arrays[:2], gates)
    width = gates * units
    bias = arrays[2] if len(arrays) == 3 else np.zeros(2 * width, arrays[0].dtype)
    if name == "LSTM" and bias.shape == (width,):
        bias = np.concatenate([bias, np.zeros_like(bias)])
    elif name == "GRU" and bias.shape == (2, width):
        bias = bias.reshape(-1)
    if bias.shape != (2 * width,):
        raise LayoutError(
            f"bias {bias.shape} has no cuDNN equivalent (a GRU needs reset_after=True, "
            f"bias (2, {width}))"
        )
    kernel = np.concatenate(
        [b.T.reshape(in_dim, units) for b in np.split(arrays[0], gates, axis=1)], axis=1
    )
    recurrent = np.concatenate([b.T for b in np.split(arrays[1], gates, axis=1)], axis=1)
    return [kernel, recurrent, bias]
