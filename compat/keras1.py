"""Keras 1.x recurrent weights (numpy only).

Dense recurrent layers: per-gate lists as Keras 0.x (consume_less 'cpu'/'mem';
LSTM gates i, c, f, o) or fused [W, U, b] (consume_less 'gpu'; LSTM i, f, c, o,
GRU z, r, h: already the modern layout). ConvLSTM2D: always 12 per-gate arrays,
kernels (filters, in, rows, cols) with dim_ordering 'th' or (rows, cols, in,
filters) with 'tf'; Theano kernels are true convolutions and are flipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tfrnn.compat import keras0
from tfrnn.compat.config_text import short
from tfrnn.compat.gates import MODERN_ORDER, LayoutError, check_dense_layout, per_gate_to_fused

DEFAULTS = {
    "SimpleRNN": {"activation": "tanh"},
    "GRU": {"activation": "tanh", "recurrent_activation": "hard_sigmoid"},
    "LSTM": {"activation": "tanh", "recurrent_activation": "hard_sigmoid"},
    "ConvLSTM2D": {"activation": "tanh", "recurrent_activation": "hard_sigmoid"},
}


def convert(
    class_name: str,
    weights: Sequence[np.ndarray],
    *,
    dim_ordering: str | None = None,
    backend: str | None = None,
) -> list[np.ndarray]:
    """Keras 1.x weight list -> modern [kernel, recurrent_kernel, bias]."""
    if class_name == "ConvLSTM2D":
        return convert_conv_lstm(weights, dim_ordering=dim_ordering, backend=backend)
    if class_name not in keras0.PER_GATE_FAMILIES:
        raise LayoutError(f"no Keras 1.x recurrent layout for {class_name}")
    gates = len(MODERN_ORDER[class_name])
    if len(weights) == 3 and gates > 1:
        fused = [np.asarray(w) for w in weights]
        check_dense_layout(class_name, fused, gates)
        if fused[2].shape != (fused[1].shape[1],):
            raise LayoutError(f"bias must be ({fused[1].shape[1]},)")
        return fused
    return keras0.convert(class_name, weights)


def conv_kernel_to_modern(kernel: np.ndarray, dim_ordering: str) -> np.ndarray:
    """One gate's Keras 1 conv kernel -> (rows, cols, in, filters)."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise LayoutError("ConvLSTM2D kernels must be 4-D")
    if dim_ordering == "th":
        return np.transpose(kernel, (2, 3, 1, 0))
    if dim_ordering == "tf":
        return kernel
    raise LayoutError(f"dim_ordering must be 'th' or 'tf', got {short(dim_ordering)}")


def flip_spatial(kernel: np.ndarray) -> np.ndarray:
    """Turn a true-convolution kernel (rows, cols, in, out) into a correlation one."""
    return np.ascontiguousarray(kernel[::-1, ::-1])


def guess_dim_ordering(weights: Sequence[np.ndarray]) -> str:
    """'th' or 'tf' from the first gate's kernel and recurrent kernel shapes."""
    w, u = np.shape(weights[0]), np.shape(weights[1])
    th = u[0] == u[1] == w[0] and u[2:] == w[2:]
    tf = u[2] == u[3] == w[3] and u[:2] == w[:2]
    if th and not tf:
        return "th"
    if tf and not th:
        return "tf"
    raise LayoutError(
        "cannot tell dim_ordering 'th' from 'tf' by shape; pass config={'dim_ordering': ...}"
    )


def convert_conv_lstm(
    weights: Sequence[np.ndarray], *, dim_ordering: str | None, backend: str | None
) -> list[np.ndarray]:
    """Keras 1 ConvLSTM2D (12 per-gate arrays, gates i, c, f, o) -> modern."""
    if len(weights) != 12:
        raise LayoutError(f"expected 12 per-gate arrays, got {len(weights)}")
    ordering = dim_ordering or guess_dim_ordering(weights)
    if backend is None:
        backend = "theano" if ordering == "th" else "tensorflow"
    modern = []
    for k, w in enumerate(weights):
        if k % 3 == 2:
            modern.append(np.asarray(w))
            continue
        w = conv_kernel_to_modern(w, ordering)
        modern.append(flip_spatial(w) if backend == "theano" else w)
    kernel, recurrent, bias = per_gate_to_fused("ConvLSTM2D", modern)
    filters = bias.shape[0] // 4
    if recurrent.shape[2:] != (filters, 4 * filters) or kernel.shape[3] != 4 * filters:
        raise LayoutError("ConvLSTM2D kernel, recurrent kernel and bias disagree on filters")
    return [kernel, recurrent, bias]
