"""Gate bookkeeping shared by the per-generation converters (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Modern (tf_keras) gate order along the last axis of kernel, recurrent kernel and bias.
MODERN_ORDER = {"LSTM": "ifco", "GRU": "zrh", "SimpleRNN": "h", "ConvLSTM2D": "ifco"}
# Order of the per-gate triples [W_g, U_g, b_g] in Keras 0.x / 1.x weight lists.
PER_GATE_ORDER = {"LSTM": "icfo", "GRU": "zrh", "SimpleRNN": "h", "ConvLSTM2D": "icfo"}


class LayoutError(ValueError):
    """A weight list that does not fit the layout being tried."""


def shapes(weights: Sequence[np.ndarray]) -> list[tuple[int, ...]]:
    """Shapes of a weight list, for error messages."""
    return [tuple(np.shape(w)) for w in weights]


def per_gate_to_fused(
    family: str, weights: Sequence[np.ndarray], *, has_bias: bool = True
) -> list[np.ndarray]:
    """[W_g, U_g, b_g] per gate (Keras 0.x/1.x order) -> [kernel, recurrent, bias] fused."""
    old = PER_GATE_ORDER[family]
    per = 3 if has_bias else 2
    if len(weights) != per * len(old):
        raise LayoutError(f"expected {per * len(old)} per-gate arrays, got {len(weights)}")
    by_gate = {g: weights[per * k : per * (k + 1)] for k, g in enumerate(old)}
    fused = []
    for part in range(per):
        fused.append(
            np.concatenate([np.asarray(by_gate[g][part]) for g in MODERN_ORDER[family]], axis=-1)
        )
    return fused


def check_dense_layout(family: str, weights: Sequence[np.ndarray], gates: int) -> tuple[int, int]:
    """Check kernel (in, G*u) and recurrent (u, G*u); return (input_dim, units)."""
    kernel, recurrent = np.asarray(weights[0]), np.asarray(weights[1])
    if recurrent.ndim != 2 or recurrent.shape[1] != gates * recurrent.shape[0]:
        raise LayoutError(f"recurrent kernel must be (units, {gates}*units)")
    units = recurrent.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != gates * units:
        raise LayoutError(f"kernel must be (input_dim, {gates}*units) with units={units}")
    return kernel.shape[0], units
