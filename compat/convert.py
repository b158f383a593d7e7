"""``convert_layer_weights``: one layer's weight list, any generation -> modern layout."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tfrnn.compat import cudnn, keras0, keras1, keras2
from tfrnn.compat.gates import LayoutError, shapes

SOURCES = ("keras0", "keras1", "keras2", "cudnn")
RECURRENT = ("SimpleRNN", "GRU", "LSTM", "ConvLSTM2D", "CuDNNLSTM", "CuDNNGRU")
WRAPPERS = ("Bidirectional", "TimeDistributed")
# Layers whose weights kept one layout through every generation.
PLAIN = (
    "Dense",
    "TimeDistributedDense",
    "Embedding",
    "Masking",
    "Dropout",
    "Activation",
    "Flatten",
    "Reshape",
    "RepeatVector",
    "InputLayer",
    "Input",
    "Merge",
    "Concatenate",
    "Add",
    "Multiply",
    "Average",
    "Maximum",
    "Subtract",
)


def _dim_ordering(config: dict[str, Any]) -> str | None:
    if "dim_ordering" in config:
        return {"default": None}.get(config["dim_ordering"], config["dim_ordering"])
    data_format = config.get("data_format")
    return {"channels_first": "th", "channels_last": "tf"}.get(data_format)


def _attempts(
    class_name: str, arrays: list[np.ndarray], config: dict[str, Any], backend: str | None
) -> dict[str, Callable[[], list[np.ndarray]]]:
    family = class_name.removeprefix("CuDNN")
    ordering = _dim_ordering(config)
    return {
        "keras0": lambda: keras0.convert(family, arrays),
        "keras1": lambda: keras1.convert(family, arrays, dim_ordering=ordering, backend=backend),
        "keras2": lambda: keras2.convert(family, arrays, backend=backend),
        "cudnn": lambda: cudnn.convert(class_name, arrays),
    }


def _detect_order(class_name: str, arrays: list[np.ndarray]) -> list[str]:
    if class_name.startswith("CuDNN"):
        return ["cudnn", "keras2"]
    if len(arrays) in (9, 12):
        return ["keras1"]
    if class_name == "ConvLSTM2D":
        return ["keras2"]
    return ["keras2", "cudnn"]


def convert_layer_weights(
    class_name: str,
    weights: Sequence[np.ndarray],
    config: dict[str, Any] | None = None,
    source: str | None = None,
    *,
    backend: str | None = None,
) -> list[np.ndarray]:
    """Convert one layer's weights from a Keras generation's layout to tf_keras's.

    Args:
        class_name: the layer's class as the old file names it (``LSTM``,
            ``CuDNNGRU``, ``Bidirectional``, ``ConvLSTM2D``, ``Dense``, ...).
        weights: the layer's arrays in the order the old Keras stored them.
        config: the layer's config (old or modern spelling); needed for
            ``Bidirectional``/``TimeDistributed`` (``config['layer']``) and to
            resolve ConvLSTM2D ``dim_ordering`` when shapes cannot.
        source: 'keras0', 'keras1', 'keras2' or 'cudnn'; detected from the
            count and shapes of ``weights`` when None.
        backend: the backend that wrote the weights ('theano' flips conv kernels).

    Returns:
        The weights in the modern layout: kernel (in, G*u), recurrent kernel
        (u, G*u), bias (G*u,) or GRU reset_after (2, 3u); gates LSTM i, f, c, o
        and GRU z, r, h.

    Raises:
        ValueError: naming the layer, the layouts tried and the shapes seen.
    """
    config = dict(config or {})
    arrays = [np.asarray(w) for w in weights]
    if source is not None and source not in SOURCES:
        raise ValueError(f"{class_name}: source must be one of {SOURCES} or None, got {source!r}.")
    if class_name in WRAPPERS:
        return _convert_wrapper(class_name, arrays, config, source, backend)
    if class_name == "Embedding" and source == "keras0":
        try:
            return keras0.convert_embedding(arrays, config.get("dropout") or 0.0)
        except LayoutError as err:
            raise ValueError(f"Embedding: {err}.") from None
    if class_name in PLAIN:
        return arrays
    if class_name not in RECURRENT:
        raise ValueError(
            f"{class_name}: unknown layer class; tfrnn.compat converts {RECURRENT + WRAPPERS} "
            f"and passes through {PLAIN}."
        )
    attempts = _attempts(class_name, arrays, config, backend)
    order = [source] if source else _detect_order(class_name, arrays)
    if source == "keras2" and class_name in ("LSTM", "GRU"):
        order.append("cudnn")
    if source == "keras0" and class_name.startswith("CuDNN"):
        order = []
    errors = []
    for name in order:
        try:
            return attempts[name]()
        except LayoutError as err:
            errors.append(f"{name}: {err}")
    tried = "; ".join(errors) or f"no {source} layout exists for this class"
    raise ValueError(
        f"{class_name}: weights with shapes {shapes(arrays)} match no known layout "
        f"(tried {tried}). Check that the weights belong to this layer and the config "
        "(units, input size, dim_ordering) matches the file."
    )


def _convert_wrapper(
    class_name: str,
    arrays: list[np.ndarray],
    config: dict[str, Any],
    source: str | None,
    backend: str | None,
) -> list[np.ndarray]:
    inner = config.get("layer")
    if not isinstance(inner, dict) or "class_name" not in inner:
        raise ValueError(
            f"{class_name}: the wrapped layer is needed to convert its weights; pass "
            "config={'layer': {'class_name': ..., 'config': {...}}}."
        )
    inner_class, inner_config = inner["class_name"], inner.get("config", {})
    if source == "keras2" and str(inner_class).startswith("CuDNN"):
        source = "cudnn"
    if class_name == "TimeDistributed":
        return convert_layer_weights(inner_class, arrays, inner_config, source, backend=backend)
    if len(arrays) % 2:
        raise ValueError(
            f"Bidirectional({inner_class}): expected forward then backward weights "
            f"(an even count), got shapes {shapes(arrays)}."
        )
    half = len(arrays) // 2
    return [
        *convert_layer_weights(inner_class, arrays[:half], inner_config, source, backend=backend),
        *convert_layer_weights(inner_class, arrays[half:], inner_config, source, backend=backend),
    ]
