"""A file's weight shapes against the layer's config, checked before any data is read.

Every layout of every generation keeps the layer's width visible: recurrent
arrays end in ``units`` or a multiple of it per gate (per-gate, fused, cuDNN
canonical), ConvLSTM2D arrays hold ``filters`` or ``4*filters`` on some axis,
Dense arrays end in ``units`` and an Embedding is ``(input_dim, output_dim)``.
A config that does not fit its file is refused before anything is read or built.
"""

from __future__ import annotations

from tfrnn.compat.layer_configs import LayerSpec

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4, "CuDNNGRU": 3, "CuDNNLSTM": 4, "ConvLSTM2D": 4}


def check_declared_shapes(spec: LayerSpec, shapes: list[tuple[int, ...]], where: str) -> None:
    """ValueError naming the layer when ``shapes`` cannot be its weights under its config."""
    problem = _problem(spec.inner if spec.inner is not None else spec, shapes)
    if problem:
        listed = ", ".join(str(s) for s in shapes[:12]) + (", ..." if len(shapes) > 12 else "")
        raise ValueError(
            f"{where}: layer '{spec.name}' ({spec.old_class}): {problem} (the file's arrays "
            f"have shapes [{listed}]); the config and the weights do not belong together."
        )


def _problem(spec: LayerSpec, shapes: list[tuple[int, ...]]) -> str | None:
    config = spec.config
    if spec.class_name in GATES:
        key = "filters" if spec.class_name == "ConvLSTM2D" else "units"
        width, gates = config.get(key), GATES[spec.class_name]
        if not isinstance(width, int):
            return None
        if spec.class_name == "ConvLSTM2D":
            fits = [s for s in shapes if {width, gates * width} & set(s)]
        else:
            fits = [s for s in shapes if s and s[-1] in (width, gates * width, 2 * gates * width)]
        misfit = next((s for s in shapes if s not in fits), None)
        return (
            None
            if misfit is None
            else f"the config says {key}={width}, which {misfit} does not fit"
        )
    if spec.class_name == "Dense":
        units = config.get("units")
        misfit = next((s for s in shapes if not s or s[-1] != units), None)
        return (
            None
            if misfit is None
            else f"the config says units={units}, which {misfit} does not fit"
        )
    if spec.class_name == "Embedding":
        expected = (config.get("input_dim"), config.get("output_dim"))
        misfit = next((s for s in shapes if s != expected), None)
        return None if misfit is None else f"the config says an embedding of shape {expected}"
    return None
