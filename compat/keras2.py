"""Keras 2.x recurrent weights: kernel / recurrent_kernel / bias (numpy only).

Dense layers are already in the modern layout (GRU bias (3u,) means
reset_after=False, (2, 3u) reset_after=True); ConvLSTM2D kernels written by the
Theano backend (multi-backend Keras <= 2.3.1) are true convolutions and are flipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tfrnn.compat.gates import MODERN_ORDER, LayoutError, check_dense_layout
from tfrnn.compat.keras1 import flip_spatial


def defaults(keras_version: str | None) -> dict[str, dict[str, str]]:
    """Constructor defaults of this Keras 2 release: GRU and LSTM gates
    hard_sigmoid before 2.3, sigmoid from 2.3; ConvLSTM2D's hard_sigmoid in
    every release (keras2-recurrent-late.md)."""
    gate = "hard_sigmoid" if _before_2_3(keras_version) else "sigmoid"
    return {
        name: {"activation": "tanh", "recurrent_activation": gate} for name in ("GRU", "LSTM")
    } | {
        "ConvLSTM2D": {"activation": "tanh", "recurrent_activation": "hard_sigmoid"},
        "SimpleRNN": {"activation": "tanh"},
    }


def _before_2_3(version: str | None) -> bool:
    if not version:
        return True
    parts = []
    for piece in version.split("-")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts) < (2, 3)


def convert(
    class_name: str, weights: Sequence[np.ndarray], *, backend: str | None = None
) -> list[np.ndarray]:
    """Keras 2 weight list -> modern list (checks shapes, flips Theano conv kernels)."""
    arrays = [np.asarray(w) for w in weights]
    if class_name == "ConvLSTM2D":
        if len(arrays) not in (2, 3) or arrays[0].ndim != 4 or arrays[1].ndim != 4:
            raise LayoutError("expected [kernel (r, c, in, 4f), recurrent (r, c, f, 4f), bias]")
        if backend == "theano":
            arrays[0], arrays[1] = flip_spatial(arrays[0]), flip_spatial(arrays[1])
        return arrays
    if class_name not in MODERN_ORDER:
        raise LayoutError(f"no Keras 2 recurrent layout for {class_name}")
    if len(arrays) not in (2, 3):
        raise LayoutError(f"expected 2 or 3 arrays, got {len(arrays)}")
    gates = len(MODERN_ORDER[class_name])
    _, units = check_dense_layout(class_name, arrays, gates)
    if len(arrays) == 3:
        allowed = [(gates * units,)] + ([(2, gates * units)] if class_name == "GRU" else [])
        if arrays[2].shape not in allowed:
            raise LayoutError(f"bias must be one of {allowed}")
    return arrays
