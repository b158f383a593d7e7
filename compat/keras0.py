"""Keras 0.x recurrent weights: per-gate [W_g, U_g, b_g] lists (numpy only).

SimpleRNN [W, U, b]; GRU [W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h];
LSTM [W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o] (gates i, c, f, o).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tfrnn.compat.gates import MODERN_ORDER, LayoutError, check_dense_layout, per_gate_to_fused

# Defaults of the Keras 0.x constructors (keras0-recurrent.md); a converted
# config states them explicitly so the modern layer computes what 0.x computed.
DEFAULTS = {
    "SimpleRNN": {"activation": "sigmoid"},
    "GRU": {"activation": "sigmoid", "recurrent_activation": "hard_sigmoid"},
    "LSTM": {"activation": "tanh", "recurrent_activation": "hard_sigmoid"},
}


def convert(class_name: str, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Keras 0.x per-gate list -> [kernel, recurrent_kernel, bias] (modern gate order)."""
    if class_name not in PER_GATE_FAMILIES:
        raise LayoutError(f"no Keras 0.x recurrent layout for {class_name}")
    fused = per_gate_to_fused(class_name, weights)
    check_dense_layout(class_name, fused, len(MODERN_ORDER[class_name]))
    return fused


PER_GATE_FAMILIES = ("SimpleRNN", "GRU", "LSTM")


def convert_embedding(weights: Sequence[np.ndarray], dropout: float) -> list[np.ndarray]:
    """Keras 0.3.3 Embedding [W] -> modern [W].

    0.3.3 added ``dropout`` to Embedding as plain (not inverted) dropout: at
    inference it multiplied W by ``1 - dropout``, so the modern layer gets the
    scaled matrix."""
    if len(weights) != 1:
        raise LayoutError(f"an Embedding holds 1 array, got {len(weights)}")
    if not 0.0 <= float(dropout) < 1.0:
        raise LayoutError(f"Embedding dropout must be in [0, 1), got {dropout}")
    return [np.asarray(weights[0]) * (1.0 - float(dropout))]
