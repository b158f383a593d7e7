"""Files laid out as each Keras generation wrote them, built with h5py from
the format facts (never from tfrnn's own writer)."""

import json

import h5py
import numpy as np


def write_keras0(path, layers, graph=False):
    """Keras 0.x save_weights: nb_layers, layer_{k}/nb_params/param_{n}; or 'graph'."""
    with h5py.File(path, "w") as f:
        groups = (
            [("graph", layers[0])] if graph else [(f"layer_{k}", w) for k, w in enumerate(layers)]
        )
        if not graph:
            f.attrs["nb_layers"] = len(layers)
        for name, weights in groups:
            g = f.create_group(name)
            g.attrs["nb_params"] = len(weights)
            for n, w in enumerate(weights):
                g.create_dataset(f"param_{n}", data=np.asarray(w, dtype=np.float32))


def _names(values):
    """Fixed-length byte strings, as Keras 1/2 stored name lists."""
    return np.array([v.encode("utf8") for v in values], dtype=f"S{max(len(v) for v in values)}")


def write_named(
    path,
    layers,
    *,
    keras_version=None,
    backend=None,
    model_config=None,
    chunk=False,
):
    """Keras 1.x/2.x layout. layers: [(layer_name, [(weight_name, array), ...])].
    model_config makes a model.save() file (weights under 'model_weights')."""
    with h5py.File(path, "w") as f:
        root = f
        if model_config is not None:
            if keras_version:
                f.attrs["keras_version"] = keras_version.encode("utf8")
            if backend:
                f.attrs["backend"] = backend.encode("utf8")
            f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
            root = f.create_group("model_weights")
        if keras_version:
            root.attrs["keras_version"] = keras_version.encode("utf8")
        if backend:
            root.attrs["backend"] = backend.encode("utf8")
        names = [name for name, _ in layers]
        if chunk:
            half = len(names) // 2 or 1
            root.attrs["layer_names0"] = _names(names[:half])
            root.attrs["layer_names1"] = _names(names[half:])
        else:
            root.attrs["layer_names"] = _names(names)
        for name, weights in layers:
            g = root.create_group(name)
            if weights:
                g.attrs["weight_names"] = _names([w for w, _ in weights])
            else:
                g.attrs["weight_names"] = np.array([], dtype="S1")
            for wname, value in weights:
                g.create_dataset(wname, data=np.asarray(value, dtype=np.float32))
