"""``load_legacy_weights`` and ``load_legacy_model``: files of any Keras generation."""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import h5py
import numpy as np
from tfrnn.compat import cudnn
from tfrnn.compat.config_text import parse_config, parse_config_text, short
from tfrnn.compat.convert import convert_layer_weights
from tfrnn.compat.declared_shapes import check_declared_shapes
from tfrnn.compat.gates import LayoutError
from tfrnn.compat.hdf5 import (
    Generation,
    detect_in_file,
    keras0_datasets,
    model_config_text,
    named_datasets,
    open_h5,
)
from tfrnn.compat.hdf5_safety import declared_shape, read_dataset
from tfrnn.compat.layer_configs import KERAS0_PARAM_COUNTS, LayerSpec, Source
from tfrnn.compat.model_configs import ModelSpec, normalize
from tfrnn.compat.targets import check_keras, target

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
    target_class: str,
    old_class: str,
    arrays: list,
    config: dict,
    gen: Generation,
    where: str,
    inner: tuple[str, str, dict] | None = None,
) -> list:
    """The file's arrays converted for a layer of ``target_class``.

    tfrnn's CuDNN layers keep the cuDNN layout: cuDNN lists pass through
    unchanged, any other LSTM/GRU list is converted to the modern layout and
    packed into it. ``inner`` is a wrapper's (target class, old class, old
    config) of the wrapped layer; a Bidirectional's halves are converted one
    by one when the wrapped target is a CuDNN layer."""
    if target_class == "Bidirectional" and inner is not None and inner[0] in CUDNN_LAYERS:
        if len(arrays) % 2:
            raise ValueError(
                f"{where}: Bidirectional({inner[1]}) needs forward then backward weights "
                f"(an even count), got {len(arrays)} arrays."
            )
        half = len(arrays) // 2
        return [
            *_weights_for(inner[0], inner[1], arrays[:half], inner[2], gen, where),
            *_weights_for(inner[0], inner[1], arrays[half:], inner[2], gen, where),
        ]
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
        raise ValueError(
            f"{path}: backend must be one of {BACKENDS} or None, got {short(backend)}."
        )
    if gen.backend is not None and gen.backend != backend:
        warnings.warn(
            f"{path}: read as written by {backend} as asked, although the file says "
            f"{gen.backend} ({gen.backend_evidence}).",
            UserWarning,
            stacklevel=3,
        )
    return dataclasses.replace(gen, backend=backend, backend_evidence="the backend argument")


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


def _damaged(path: str, err: Exception) -> ValueError:
    return ValueError(f"{path}: damaged Keras weights file: {short(str(err), 200)}")


def _read_arrays(
    datasets: dict[str, list[h5py.Dataset]],
    specs: dict[str, LayerSpec],
    path: str,
    max_elements: dict[str, int] | None = None,
) -> dict[str, list[np.ndarray]]:
    """Read each layer's datasets after checking their declared shapes against its config."""
    out = {}
    for name, layer_datasets in datasets.items():
        if name in specs:
            shapes = [declared_shape(d) for d in layer_datasets]
            check_declared_shapes(specs[name], shapes, path)
        limit = (max_elements or {}).get(name)
        out[name] = [
            read_dataset(d, f"{path}: layer '{name}' array {d.name}", max_elements=limit)
            for d in layer_datasets
        ]
    return out


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


def _check_layers(spec: ModelSpec, per_layer: dict[str, list], path: str) -> None:
    """Every layer with weights in the file is in the config, and vice versa."""
    built = {s.name for s in spec.layers}
    for name, arrays in per_layer.items():
        if arrays and name not in built:
            raise ValueError(
                f"{path}: the file has weights for layer '{name[:80]}', which the config does "
                "not have."
            )
    for layer in spec.layers:
        if layer.class_name == "InputLayer" or per_layer.get(layer.name):
            continue
        if layer.old_class in KERAS0_PARAM_COUNTS or layer.inner is not None:
            raise ValueError(f"{path}: no weights for layer '{layer.name}' in the file.")


def _per_model(
    spec: ModelSpec, per_layer: dict[str, list], path: str
) -> list[tuple[ModelSpec, dict[str, list]]]:
    """The model and each model nested in it, with their layers' datasets: a
    nested model's group (all its layers' weights) split by layer."""
    own = dict(per_layer)
    out = [(spec, own)]
    for layer in spec.layers:
        if layer.submodel is not None:
            split = split_by_layer(
                layer.name, own.pop(layer.name, []), _owners(layer.submodel.layers), path
            )
            out += _per_model(layer.submodel, split, path)
    return out


def _owners(layers: list[LayerSpec]) -> dict[str, str]:
    """Every name inside each of ``layers`` (its own, a wrapped layer's, a nested
    model's layers') -> the name of that layer."""
    owners: dict[str, str] = {}
    for layer in layers:
        inside = [layer.name]
        if layer.inner is not None:
            inside.append(layer.inner.name)
        if layer.submodel is not None:
            inside += list(_owners(layer.submodel.layers))
        for name in inside:
            owners.setdefault(name, layer.name)
    return owners


def split_by_layer(
    model_name: str, datasets: list[h5py.Dataset], owners: dict[str, str], path: str
) -> dict[str, list[h5py.Dataset]]:
    """A nested model's datasets (its group holds all its layers' weights) ->
    each layer's, in file order. Keras 2 and tf_keras name a weight after the
    layer that made it (``bidirectional/forward_lstm/kernel:0``): the first
    part of the name below the model's group that ``owners`` knows decides."""
    out: dict[str, list[h5py.Dataset]] = {}
    for dataset in datasets:
        parts = dataset.name.split("/")
        below = parts[parts.index(model_name) + 1 :] if model_name in parts else parts
        owner = next((owners[p] for p in below if p in owners), None)
        if owner is None:
            raise ValueError(
                f"{path}: weight {short(dataset.name, 120)} of the nested model "
                f"'{model_name[:80]}' names none of its layers "
                f"({short(sorted(set(owners.values())), 200)}), so it cannot be given to one. "
                "Build the model and load the file with load_legacy_weights, which splits a "
                "nested model's weights by count as tf_keras does."
            )
        out.setdefault(owner, []).append(dataset)
    return out


def _attach(spec: ModelSpec, per_layer: dict[str, list], gen: Generation, path: str) -> None:
    for layer in spec.layers:
        arrays = per_layer.get(layer.name, [])
        if layer.class_name == "InputLayer" or not arrays:
            continue
        inner = layer.inner
        layer.weights = _weights_for(
            layer.class_name,
            layer.old_class,
            arrays,
            layer.old_config,
            gen,
            path,
            None if inner is None else (inner.class_name, inner.old_class, inner.old_config),
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
        return keras0_datasets(f, path), "graph" in f
    return named_datasets(f, path), False


def _model_spec(f: h5py.File, gen: Generation, config: Any, path: str) -> ModelSpec:
    """The model config given by the caller, else the one stored in the file."""
    if config is None:
        text = model_config_text(f, path)
        if text is None:
            raise ValueError(
                f"{path}: a weights-only file (no model_config); pass config= (--config on the "
                "command line) with the model's JSON or YAML (from to_json()/to_yaml())."
            )
        parsed, where = parse_config_text(text, f"{path}: model_config"), f"{path}: model_config"
    else:
        parsed = parse_config(config)
        where = (
            str(config)
            if isinstance(config, str | os.PathLike) and len(str(config)) < 300
            else "config"
        )
    try:
        return normalize(parsed, Source(gen.generation, gen.keras_version, gen.backend))
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        raise ValueError(
            f"{where}: not a model config Keras wrote (missing or malformed entry "
            f"{short(str(err), 80)})."
        ) from None


def load_legacy_model(
    path: str | os.PathLike, config: Any = None, *, backend: str | None = None, keras: int = 2
):
    """A model with tfrnn recurrent layers and converted weights: a tf_keras
    model of ``tfrnn`` layers (``keras=2``, the default) or a Keras 3 model of
    ``tfrnn.keras3`` layers (``keras=3``; old files' ``hard_sigmoid`` becomes
    ``tfrnn.keras3.activations.keras2_hard_sigmoid``, Keras 2's function).

    The config comes from the file's own ``model_config`` (Keras 1.x/2.x
    ``model.save``) or, for weights-only files, from ``config`` (a path to a
    JSON/YAML file, its text, or a dict). YAML is read with a safe loader.
    ``backend`` ('theano', 'tensorflow' or 'cntk') states the backend that
    wrote the file where it does not say (Keras 0.x/1.x); Theano-written
    ConvLSTM2D kernels are flipped. The file is checked before it is read
    (see docs/security.md): it may hold only plain data, and each array's
    shape must fit its layer's config.
    """
    from tfrnn.compat.builder import build_model

    check_keras(keras)
    path = os.fspath(path)
    with open_h5(path) as f:
        try:
            gen = _with_backend(detect_in_file(f, path), backend, path)
            datasets, is_graph = _read_weights(f, gen, path)
            spec = _model_spec(f, gen, config, path)
            if gen.generation == "keras0":
                datasets = _keras0_per_layer(spec, datasets, is_graph, path)
            models = _per_model(spec, datasets, path)
            weights = []
            for model_spec, model_datasets in models:
                _check_layers(model_spec, model_datasets, path)
                by_name = {s.name: s for s in model_spec.layers}
                weights.append(_read_arrays(model_datasets, by_name, path))
        except (OSError, KeyError, TypeError, AttributeError) as err:
            raise _damaged(path, err) from None
    _warn_guessed_backend(gen, _classes(spec.layers), path)
    for (model_spec, _), model_weights in zip(models, weights):
        _attach(model_spec, model_weights, gen, path)
    return build_model(spec, path, target(keras))


def _classes(specs: list[LayerSpec]) -> list[str]:
    out = []
    for spec in specs:
        out.append(spec.class_name)
        if spec.inner is not None:
            out.extend(_classes([spec.inner]))
        if spec.submodel is not None:
            out.extend(_classes(spec.submodel.layers))
    return out


def _layer_config_for_conversion(layer) -> tuple[str, dict]:
    class_name = type(layer).__name__
    config = layer.get_config()
    if class_name in ("Bidirectional", "TimeDistributed"):
        inner = _wrapped(layer)
        config = {"layer": {"class_name": type(inner).__name__, "config": inner.get_config()}}
    return class_name, config


def _wrapped(layer):
    return layer.forward_layer if type(layer).__name__ == "Bidirectional" else layer.layer


def _inner_target(layer) -> tuple[str, str, dict] | None:
    if type(layer).__name__ not in ("Bidirectional", "TimeDistributed"):
        return None
    inner = _wrapped(layer)
    return type(inner).__name__, type(inner).__name__, inner.get_config()


def load_legacy_weights(model, path: str | os.PathLike, *, backend: str | None = None) -> None:
    """Load any generation's weights file into an existing modern model.

    Keras 1.x/2.x files match layers by name; Keras 0.x files by position
    (the model's layers with weights, in order, against the file's layers with
    parameters). Each layer's weights are converted to the layout of the
    model's layer (modern, or cuDNN's for tfrnn.CuDNNLSTM/CuDNNGRU). The
    model may be a tf_keras model of ``tfrnn`` layers or a Keras 3 model of
    ``tfrnn.keras3`` layers. ``backend`` as for ``load_legacy_model``.
    """
    path = os.fspath(path)
    targets = [layer for layer in model.layers if layer.weights]
    with open_h5(path) as f:
        try:
            gen = _with_backend(detect_in_file(f, path), backend, path)
            datasets, is_graph = _read_weights(f, gen, path)
            pairs = _without_nesting(_pair_layers(targets, datasets, gen, is_graph, path), path)
            weights = _read_arrays(
                {label: arrays for label, _, arrays in pairs},
                {},
                path,
                {label: 2 * layer.count_params() for label, layer, _ in pairs},
            )
        except (OSError, KeyError, TypeError, AttributeError) as err:
            raise _damaged(path, err) from None
    _warn_guessed_backend(gen, [_layer_config_for_conversion(t)[0] for _, t, _ in pairs], path)
    for label, layer, _ in pairs:
        class_name, config = _layer_config_for_conversion(layer)
        converted = _weights_for(
            class_name, class_name, weights[label], config, gen, path, _inner_target(layer)
        )
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(w.shape) for w in converted] != expected:
            raise ValueError(
                f"{path}: layer '{layer.name}' expects shapes {expected}, the file's converted "
                f"weights have {[tuple(w.shape) for w in converted]}."
            )
        layer.set_weights(converted)


def _without_nesting(pairs: list, path: str, prefix: str = "") -> list[tuple[str, Any, list]]:
    """(label, layer, datasets) for each layer with weights, a nested model's
    layers in place of the model (its group split by ``_split_by_count``),
    labelled by their path of names."""
    out = []
    for layer, datasets in pairs:
        label = prefix + layer.name
        if not hasattr(layer, "layers"):  # a layer, not a nested model
            out.append((label, layer, datasets))
            continue
        out += _without_nesting(_split_by_count(layer, datasets, path), path, label + "/")
    return out


def _split_by_count(model, datasets: list, path: str) -> list[tuple[Any, list]]:
    """A nested model's datasets -> its layers with weights, each with its own,
    as tf_keras's h5 loader splits them: the group holds the model's trainable
    weights, then its other weights, each part in layer order."""
    if len(datasets) != len(model.weights):
        raise ValueError(
            f"{path}: the nested model '{model.name}' has {len(model.weights)} weights, the "
            f"file has {len(datasets)} for it; build the model the file was saved from."
        )
    trainable = datasets[: len(model.trainable_weights)]
    other = datasets[len(model.trainable_weights) :]
    out = []
    for sub in model.layers:
        if not sub.weights:
            continue
        own_trainable, trainable = (
            trainable[: len(sub.trainable_weights)],
            trainable[len(sub.trainable_weights) :],
        )
        own_other, other = (
            other[: len(sub.non_trainable_weights)],
            other[len(sub.non_trainable_weights) :],
        )
        out.append((sub, own_trainable + own_other))
    return out


def _pair_layers(
    targets: list, datasets: Any, gen: Generation, is_graph: bool, path: str
) -> list[tuple[Any, list[h5py.Dataset]]]:
    """The model's layers with weights, each with its datasets in the file."""
    if gen.generation == "keras0":
        flat = [arrays for arrays in datasets if arrays]
        if is_graph or len(flat) != len(targets):
            raise ValueError(
                f"{path}: {len(flat)} Keras 0.x layers with weights for a model with "
                f"{len(targets)}; load by position needs the same layers in the same order."
            )
        return list(zip(targets, flat))
    missing = [layer.name for layer in targets if layer.name not in datasets]
    if missing:
        raise ValueError(f"{path}: no weights in the file for layers {missing}.")
    return [(layer, datasets[layer.name]) for layer in targets]
