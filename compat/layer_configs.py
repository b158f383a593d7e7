"""One old layer config -> a modern layer spec (pure Python, no Keras).

Old spellings become tf_keras's, and the old constructor defaults that changed
since (hard_sigmoid gates, Keras 0.x GRU/SimpleRNN sigmoid activation, GRU
reset_after=False) are written out explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tfrnn.compat import keras0, keras1, keras2
from tfrnn.compat.config_text import short
from tfrnn.compat.spellings import modernize_kwargs

RNN_KEYS = (
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "unit_forget_bias",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "dropout",
    "recurrent_dropout",
    "reset_after",
)
CONV_RNN_KEYS = (
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "activation",
    "recurrent_activation",
    "use_bias",
    "unit_forget_bias",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "dropout",
    "recurrent_dropout",
)
CUDNN_KEYS = ("units", "return_sequences", "return_state", "go_backwards", "stateful")
MERGE_MODES = {
    "concat": "Concatenate",
    "sum": "Add",
    "mul": "Multiply",
    "ave": "Average",
    "max": "Maximum",
}
KERAS2_MERGES = ("Concatenate", "Add", "Multiply", "Average", "Maximum", "Subtract")


@dataclass
class LayerSpec:
    """A layer to build: modern class and kwargs, plus what the file called it."""

    name: str
    class_name: str
    config: dict[str, Any]
    old_class: str
    old_config: dict[str, Any]
    inbound: list[str] = field(default_factory=list)
    inner: LayerSpec | None = None
    input_shape: tuple | None = None
    weights: list[np.ndarray] | None = None
    #: a nested Sequential or functional model's own ModelSpec (class "Model")
    submodel: Any = None


@dataclass(frozen=True)
class Source:
    """Who wrote the config and weights."""

    generation: str
    keras_version: str | None = None
    backend: str | None = None


def _defaults(source: Source, family: str) -> dict[str, Any]:
    if source.generation == "keras0":
        table = keras0.DEFAULTS
    elif source.generation == "keras1":
        table = keras1.DEFAULTS
    else:
        table = keras2.defaults(source.keras_version)
    return dict(table.get(family, {}))


def _input_shape(class_name: str, cfg: dict[str, Any], source: Source) -> tuple | None:
    if class_name == "Embedding" and source.generation == "keras0":
        # Keras 0.x Embedding.__init__ set input_shape=(input_dim,), the vocabulary
        # size, so its config records that; the real input is (batch, input_length).
        return (None, cfg.get("input_length"))
    if cfg.get("batch_input_shape"):
        return tuple(cfg["batch_input_shape"])
    if cfg.get("input_shape"):
        return (None, *tuple(cfg["input_shape"]))
    if class_name == "Embedding":
        return (None, cfg.get("input_length"))
    if cfg.get("input_dim") is not None:
        return (None, cfg.get("input_length"), cfg["input_dim"])
    return None


def _pick(cfg: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}


MAX_NAME_LENGTH = 256


def _name(cfg: dict[str, Any], fallback: str) -> str:
    name = cfg.get("name")
    if not isinstance(name, str) or not name:
        return fallback
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"Layer {short(name)}: a name of {len(name):,} characters; Keras names are short."
        )
    return name


def translate(
    class_name: str, cfg: dict[str, Any], source: Source, fallback_name: str
) -> LayerSpec:
    """Translate one layer's old config into a LayerSpec (ValueError if unknown)."""
    if not isinstance(cfg, dict):
        raise ValueError(f"Layer '{fallback_name}': its config is {short(cfg)}, not a mapping.")
    cfg = dict(cfg)
    name = _name(cfg, fallback_name)
    if not isinstance(class_name, str):
        raise ValueError(f"Layer '{name}': class name {short(class_name)} is not text.")
    shape = _input_shape(class_name, cfg, source)
    spec = _TRANSLATORS.get(class_name)
    if spec is None and class_name.startswith("tfrnn>"):
        raise ValueError(
            f"Layer '{name}': class {short(class_name)} is a tfrnn layer, so this file was "
            "written by tf_keras with tfrnn and needs no migration: load it with "
            "tf_keras.models.load_model after `import tfrnn` (then model.save() converts "
            "it to another format)."
        )
    if spec is None:
        raise ValueError(
            f"Layer '{name}': class {short(class_name)} is not one tfrnn.compat can rebuild; "
            f"supported: {sorted(_TRANSLATORS)}."
        )
    modern_class, kwargs, inner = spec(class_name, cfg, source, name)
    return LayerSpec(
        name=name,
        class_name=modern_class,
        config=kwargs,
        old_class=class_name,
        old_config=cfg,
        inner=inner,
        input_shape=shape,
    )


def _recurrent(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    family = class_name
    shape_keys = ("name", "input_dim", "input_length", "input_shape", "batch_input_shape")
    kwargs, _ = modernize_kwargs(family, {k: v for k, v in cfg.items() if k not in shape_keys})
    out = _defaults(source, family)
    if family.startswith("ConvLSTM"):
        out.update(_pick(kwargs, CONV_RNN_KEYS))
        if "kernel_size" in out:
            out["kernel_size"] = tuple(out["kernel_size"])
        if "strides" in out:
            out["strides"] = tuple(out["strides"])
    else:
        out.update(_pick(kwargs, RNN_KEYS))
    if family == "GRU":
        out.setdefault("reset_after", False)
    if family != "GRU":
        out.pop("reset_after", None)
    out["name"] = name
    return family, out, None


def _cudnn(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    return class_name, {**_pick(cfg, CUDNN_KEYS), "name": name}, None


def _dense(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    kwargs = {
        "units": cfg.get("units", cfg.get("output_dim")),
        "activation": cfg.get("activation") or "linear",
        "use_bias": cfg.get("use_bias", cfg.get("bias", True)),
    }
    if class_name == "TimeDistributedDense":
        inner = LayerSpec(
            f"{name}_dense", "Dense", {**kwargs, "name": f"{name}_dense"}, "Dense", cfg
        )
        return "TimeDistributed", {"name": name}, inner
    return "Dense", {**kwargs, "name": name}, None


def _embedding(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    kwargs = {
        "input_dim": cfg["input_dim"],
        "output_dim": cfg["output_dim"],
        "mask_zero": bool(cfg.get("mask_zero", False)),
        "name": name,
    }
    if cfg.get("input_length") is not None:
        kwargs["input_length"] = cfg["input_length"]
    return "Embedding", kwargs, None


def _simple(modern: str, mapping: dict[str, str]):
    def build(class_name: str, cfg: dict[str, Any], source: Source, name: str):
        kwargs = {new: cfg[old] for old, new in mapping.items() if old in cfg}
        if "target_shape" in kwargs:
            kwargs["target_shape"] = tuple(kwargs["target_shape"])
        return modern, {**kwargs, "name": name}, None

    return build


def _wrapper(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    layer = cfg.get("layer")
    if not isinstance(layer, dict) or "class_name" not in layer:
        raise ValueError(f"Layer '{name}': {class_name} config has no wrapped 'layer'.")
    inner = translate(layer["class_name"], layer.get("config", {}), source, f"{name}_inner")
    kwargs: dict[str, Any] = {"name": name}
    if class_name == "Bidirectional":
        kwargs["merge_mode"] = cfg.get("merge_mode", "concat")
    return class_name, kwargs, inner


def _merge(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    if class_name in KERAS2_MERGES:
        kwargs = {"name": name}
        if class_name == "Concatenate":
            kwargs["axis"] = cfg.get("axis", -1)
        return class_name, kwargs, None
    mode = cfg.get("mode", "sum")
    if mode not in MERGE_MODES:
        raise ValueError(
            f"Layer '{name}': Merge mode {short(mode)} is not supported; "
            f"supported modes: {sorted(MERGE_MODES)}."
        )
    kwargs = {"name": name}
    if mode == "concat":
        kwargs["axis"] = cfg.get("concat_axis", -1)
    return MERGE_MODES[mode], kwargs, None


def _input(class_name: str, cfg: dict[str, Any], source: Source, name: str):
    kwargs = {"name": name, "dtype": cfg.get("dtype") or cfg.get("input_dtype") or "float32"}
    return "InputLayer", kwargs, None


_TRANSLATORS = {
    "SimpleRNN": _recurrent,
    "GRU": _recurrent,
    "LSTM": _recurrent,
    "ConvLSTM2D": _recurrent,
    "CuDNNLSTM": _cudnn,
    "CuDNNGRU": _cudnn,
    "Dense": _dense,
    "TimeDistributedDense": _dense,
    "Embedding": _embedding,
    "Masking": _simple("Masking", {"mask_value": "mask_value"}),
    "Dropout": _simple("Dropout", {"p": "rate", "rate": "rate"}),
    "Activation": _simple("Activation", {"activation": "activation"}),
    "Flatten": _simple("Flatten", {}),
    "Reshape": _simple("Reshape", {"dims": "target_shape", "target_shape": "target_shape"}),
    "RepeatVector": _simple("RepeatVector", {"n": "n"}),
    "TimeDistributed": _wrapper,
    "Bidirectional": _wrapper,
    "Merge": _merge,
    **{merge: _merge for merge in KERAS2_MERGES},
    "InputLayer": _input,
}

# Weight counts per old class, to split a Keras 0.x Graph's single parameter list.
KERAS0_PARAM_COUNTS = {
    "SimpleRNN": 3,
    "GRU": 9,
    "LSTM": 12,
    "Dense": 2,
    "TimeDistributedDense": 2,
    "Embedding": 1,
}
