"""``load_legacy_weights`` and ``load_legacy_model``: files of any Keras generation."""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import h5py
import numpy as np
from tfrnn.compat import cudnn
from tfrnn.compat.config_text import parse_config
from tfrnn.compat.convert import convert_layer_weights
from tfrnn.compat.gates import LayoutError
from tfrnn.compat.hdf5 import Generation, detect_in_file, open_h5, read_keras0, read_named
from tfrnn.compat.layer_configs import KERAS0_PARAM_COUNTS, LayerSpec, Source
from tfrnn.compat.model_configs import ModelSpec, normalize

BACKENDS = ("theano", "tensorflow", "cntk")
CUDNN_LAYERS = ("CuDNNLSTM", "CuDNNGRU")


def _source_for(gen: Generation, class_name: str) -> str | None:
    if gen.generation == "keras2":
        return "cudnn" if class_name.startswith("CuDNN") else "keras2"
    return gen.generation


def _convert(spec_class: str, arrays: list, config: dict, gen: Generation, where: str) -> list:
    try:
        return convert_layer_weights(
            spec_class, arrays, config, _source_for(gen, spec_class), backend=gen.backend
        )
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _weights_for(
    target_class: str, old_class: str, arrays: list, config: dict, gen: Generation, where: str
) -> list:
    """The file's arrays converted for a layer of ``target_class``.

    tfrnn's CuDNN layers keep the cuDNN layout: cuDNN lists pass through
    unchanged, any other LSTM/GRU list is converted to the modern layout and
    packed into it."""
    if target_class not in CUDNN_LAYERS:
        return _convert(old_class, arrays, config, gen, where)
    if cudnn.is_cudnn_layout(target_class, arrays):
        return [np.asarray(a) for a in arrays]
    family = old_class.removeprefix("CuDNN")
    modern = _convert(family, arrays, config, gen, where)
    try:
        return cudnn.from_modern(target_class, modern)
    except LayoutError as err:
        raise ValueError(
            f"{where}: {target_class} cannot take these {family} weights: {err}."
        ) from None


def _with_backend(gen: Generation, backend: str | None, path: str) -> Generation:
    if backend is None:
        return gen
    if backend not in BACKENDS:
        raise ValueError(f"{path}: backend must be one of {BACKENDS} or None, got {backend!r}.")
    return dataclasses.replace(gen, backend=backend)


def _warn_guessed_backend(gen: Generation, classes: list[str], path: str) -> None:
    if gen.generation == "keras1" and gen.backend is None and "ConvLSTM2D" in classes:
        warnings.warn(
            f"{path}: Keras 1 files do not record their backend; ConvLSTM2D kernels are "
            "read as Theano-written (true convolutions, flipped) for dim_ordering 'th' and "
            "as TensorFlow-written for 'tf'. Pass backend='theano' or 'tensorflow' if "
            "that is not how the file was written.",
            UserWarning,
            stacklevel=3,
        )


def _read(path: str, reader):
    with open_h5(path) as f:
        try:
            gen = detect_in_file(f, path)
            return gen, reader(f, gen)
        except (OSError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: damaged Keras weights file: {err}") from None


def _fix_config_from_weights(spec: LayerSpec, weights: list[np.ndarray]) -> None:
    """State what only the weights tell: GRU reset_after, use_bias."""
    target = spec.inner if spec.class_name == "Bidirectional" else spec
    if target is None or target.class_name not in ("GRU", "LSTM", "SimpleRNN", "ConvLSTM2D"):
        return
    own = weights[: len(weights) // 2] if spec.class_name == "Bidirectional" else weights
    if len(own) == 2:
        target.config["use_bias"] = False
    if target.class_name == "GRU" and len(own) == 3:
        target.config["reset_after"] = own[2].ndim == 2


def _attach(spec: ModelSpec, per_layer: dict[str, list], gen: Generation, path: str) -> None:
    built = {s.name for s in spec.layers}
    for name, arrays in per_layer.items():
        if arrays and name not in built:
            raise ValueError(
                f"{path}: the file has weights for layer '{name}', which the config does not have."
            )
    for layer in spec.layers:
        if layer.class_name == "InputLayer":
            continue
        arrays = per_layer.get(layer.name, [])
        if not arrays:
            if layer.old_class in KERAS0_PARAM_COUNTS or layer.inner is not None:
                raise ValueError(f"{path}: no weights for layer '{layer.name}' in the file.")
            continue
        layer.weights = _weights_for(
            layer.class_name, layer.old_class, arrays, layer.old_config, gen, path
        )
        _fix_config_from_weights(layer, layer.weights)


def _keras0_per_layer(spec: ModelSpec, raw: list[list], is_graph: bool, path: str) -> dict:
    layers = [s for s in spec.layers if s.class_name != "InputLayer" and s.old_class != "Merge"]
    if is_graph:
        flat = raw[0]
        out, start = {}, 0
        for layer in layers:
            count = KERAS0_PARAM_COUNTS.get(layer.old_class, 0)
            out[layer.name] = flat[start : start + count]
            start += count
        if start != len(flat):
            raise ValueError(
                f"{path}: the Graph holds {len(flat)} parameter arrays but the config's "
                f"layers take {start}."
            )
        return out
    if len(raw) != len(layers):
        raise ValueError(
            f"{path}: the file holds {len(raw)} layers (nb_layers) but the config has "
            f"{len(layers)}; weights and config do not belong together."
        )
    return {layer.name: arrays for layer, arrays in zip(layers, raw)}


def _read_weights(f: h5py.File, gen: Generation, path: str) -> tuple[Any, bool]:
    if gen.generation == "keras0":
        return read_keras0(f, path), "graph" in f
    return read_named(f, path), False


def load_legacy_model(path: str | os.PathLike, config: Any = None, *, backend: str | None = None):
    """A tf_keras model with tfrnn recurrent layers and converted weights.

    The config comes from the file's own ``model_config`` (Keras 1.x/2.x
    ``model.save``) or, for weights-only files, from ``config`` (a path to a
    JSON/YAML file, its text, or a dict). YAML is read with a safe loader.
    ``backend`` ('theano', 'tensorflow' or 'cntk') states the backend that
    wrote the file where it does not say (Keras 0.x/1.x); Theano-written
    ConvLSTM2D kernels are flipped.
    """
    from tfrnn.compat.builder import build_model

    path = os.fspath(path)

    def reader(f: h5py.File, gen: Generation):
        text = config
        if text is None:
            if "model_config" not in f.attrs:
                raise ValueError(
                    f"{path}: a weights-only file (no model_config); pass config= with the "
                    "model's JSON or YAML (from to_json()/to_yaml())."
                )
            raw = f.attrs["model_config"]
            text = raw.decode("utf8") if isinstance(raw, bytes | np.bytes_) else str(raw)
        return _read_weights(f, gen, path), text

    gen, ((weights, is_graph), text) = _read(path, reader)
    gen = _with_backend(gen, backend, path)
    spec = normalize(parse_config(text), Source(gen.generation, gen.keras_version, gen.backend))
    if gen.generation == "keras0":
        weights = _keras0_per_layer(spec, weights, is_graph, path)
    _warn_guessed_backend(gen, _classes(spec.layers), path)
    _attach(spec, weights, gen, path)
    return build_model(spec, path)


def _classes(specs: list[LayerSpec]) -> list[str]:
    out = []
    for spec in specs:
        out.append(spec.class_name)
        if spec.inner is not None:
            out.extend(_classes([spec.inner]))
    return out


def _layer_config_for_conversion(layer) -> tuple[str, dict]:
    class_name = type(layer).__name__
    config = layer.get_config()
    if class_name in ("Bidirectional", "TimeDistributed"):
        inner = layer.forward_layer if class_name == "Bidirectional" else layer.layer
        config = {"layer": {"class_name": type(inner).__name__, "config": inner.get_config()}}
    return class_name, config


def load_legacy_weights(model, path: str | os.PathLike, *, backend: str | None = None) -> None:
    """Load any generation's weights file into an existing modern model.

    Keras 1.x/2.x files match layers by name; Keras 0.x files by position
    (the model's layers with weights, in order, against the file's layers with
    parameters). Each layer's weights are converted to the layout of the
    model's layer (modern, or cuDNN's for tfrnn.CuDNNLSTM/CuDNNGRU).
    ``backend`` as for ``load_legacy_model``.
    """
    path = os.fspath(path)
    gen, (weights, is_graph) = _read(path, lambda f, g: _read_weights(f, g, path))
    gen = _with_backend(gen, backend, path)
    targets = [layer for layer in model.layers if layer.weights]
    if gen.generation == "keras0":
        flat = [arrays for arrays in weights if arrays]
        if is_graph or len(flat) != len(targets):
            raise ValueError(
                f"{path}: {len(flat)} Keras 0.x layers with weights for a model with "
                f"{len(targets)}; load by position needs the same layers in the same order."
            )
        pairs = list(zip(targets, flat))
    else:
        missing = [layer.name for layer in targets if layer.name not in weights]
        if missing:
            raise ValueError(f"{path}: no weights in the file for layers {missing}.")
        pairs = [(layer, weights[layer.name]) for layer in targets]
    _warn_guessed_backend(gen, [_layer_config_for_conversion(t)[0] for t in targets], path)
    for layer, arrays in pairs:
        class_name, config = _layer_config_for_conversion(layer)
        converted = _weights_for(class_name, class_name, arrays, config, gen, path)
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(w.shape) for w in converted] != expected:
            raise ValueError(
                f"{path}: layer '{layer.name}' expects shapes {expected}, the file's converted "
                f"weights have {[tuple(w.shape) for w in converted]}."
            )
        layer.set_weights(converted)
