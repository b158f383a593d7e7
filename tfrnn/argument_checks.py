"""Checks of the constructor arguments every tfrnn layer and cell shares, in
either Keras: each raises an error that names the layer and what to pass.
No Keras import."""

from __future__ import annotations

from typing import Any


def check_units(layer_name: str, units: Any, what: str = "units") -> int:
    """``units`` (or the argument ``what``) as a positive int, or a ValueError."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            f"Layer '{layer_name}': `{what}` must be a positive integer, got {units!r}."
        )
    return units


def check_rate(layer_name: str, rate: Any, what: str) -> float:
    """A dropout rate ``what`` as a float in [0, 1), or a TypeError / ValueError."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise TypeError(
            f"Layer '{layer_name}': `{what}` must be a float in [0, 1), got {rate!r}."
        ) from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Layer '{layer_name}': `{what}` must be in [0, 1), got {rate!r}.")
    return value


def check_cell(owner: str, cell: Any, keras: str = "tf_keras") -> None:
    """A cell has ``call`` and ``state_size``; ``owner`` names the layer for
    the error, ``keras`` the Keras whose registration the advice names.

    A name in place of a cell is what tf_keras's deserializer returns for a
    cell class it does not know (a model saved with a custom cell, loaded
    without it).
    """
    if isinstance(cell, str):
        raise ValueError(
            f"{owner}: the cell class {cell!r} in its config is unknown. Register the "
            f"class (decorate it with @{keras}.saving.register_keras_serializable()) "
            f"or pass custom_objects={{{cell!r}: {cell}}} when loading."
        )
    if "call" not in dir(cell) or "state_size" not in dir(cell):
        raise ValueError(
            f"{owner}: a cell must have a `call` method and a `state_size` attribute; "
            f"got {cell!r}."
        )
