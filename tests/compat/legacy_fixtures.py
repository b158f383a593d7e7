"""Files laid out as each Keras generation wrote them, built with h5py from
the format facts (never from tfrnn's own writer).

Sources of the facts (old Keras code, read, not copied):
- Keras 0.x ``models.py`` ``Sequential.save_weights``: root attr ``nb_layers``
  (every layer, weightless ones too), groups ``layer_{k}`` with attr
  ``nb_params`` and datasets ``param_{n}``; ``Graph.save_weights``: one group
  ``graph`` with ``nb_params`` / ``param_{n}`` over all nodes.
- Keras 1.x ``Container.save_weights``: root attr ``layer_names`` only (no
  version, no backend); ``models.save_model``: root attrs ``keras_version``,
  ``model_config`` (and ``training_config``), weights in group
  ``model_weights`` holding ``layer_names`` only.
- Keras 2.x ``save_weights_to_hdf5_group``: ``layer_names``, ``backend`` and
  ``keras_version`` on the weights group; ``save_model`` also puts
  ``keras_version``, ``backend`` and ``model_config`` on the file root.
  From 2.1 ``save_attributes_to_hdf5_group`` turns a name list into one numpy
  array and, when it is over ``HDF5_OBJECT_HEADER_LIMIT`` (64512) bytes, splits
  it with ``np.array_split`` into the fewest equal chunks under the limit,
  stored as ``name0``, ``name1``, ...
Name lists are fixed-length byte strings (dtype ``S``: what h5py 2.x made of
a list of ``bytes``); an empty list was stored as h5py stores ``[]``.
"""

import json

import h5py
import numpy as np

HDF5_OBJECT_HEADER_LIMIT = 64512


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
    """Fixed-length byte strings, as Keras 1/2 stored name lists (h5py 2.x)."""
    if not values:
        return []  # h5py turns this into an empty float64 attribute, as it did for Keras
    return np.array([v.encode("utf8") for v in values])


def put_name_list(group, name, values, *, keras2=True, min_chunks=1):
    """Store a name list the way the writing Keras did.

    Keras 2 (``save_attributes_to_hdf5_group``): split into the fewest
    ``np.array_split`` chunks of one array whose bytes fit the header limit;
    ``min_chunks`` forces a split of a short list (the reader cannot tell the
    difference). Keras 1 never split."""
    data = _names(values)
    if not keras2 or not len(data):
        group.attrs[name] = data
        return
    chunks = max(1, min(min_chunks, len(data)))
    parts = np.array_split(data, chunks)
    while any(p.nbytes > HDF5_OBJECT_HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for k, part in enumerate(parts):
            group.attrs[f"{name}{k}"] = part


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

    ``keras_version`` None or '1.x' writes a Keras 1 file (no backend; a
    version only on a model.save() root); '2.x' a Keras 2 file (``backend``
    required). ``model_config`` makes a model.save() file (weights under
    'model_weights'). ``chunk`` splits the name lists into two chunks, as a
    Keras 2 file with a list over the header limit has them."""
    keras2 = bool(keras_version) and not keras_version.startswith(("0", "1"))
    if keras2 and not backend:
        raise ValueError("Keras 2 always wrote its backend; pass backend=")
    if not keras2 and backend:
        raise ValueError("Keras 1 files do not record a backend")
    if not keras2 and keras_version and model_config is None:
        raise ValueError("Keras 1 save_weights() files do not record a version")
    if chunk and not keras2:
        raise ValueError("Keras 1 never split attribute lists")
    with h5py.File(path, "w") as f:
        root = f
        if model_config is not None:
            if keras_version:
                f.attrs["keras_version"] = keras_version.encode("utf8")
            if keras2:
                f.attrs["backend"] = backend.encode("utf8")
            f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
            root = f.create_group("model_weights")
        split = 2 if chunk else 1
        put_name_list(
            root, "layer_names", [name for name, _ in layers], keras2=keras2, min_chunks=split
        )
        if keras2:
            root.attrs["backend"] = backend.encode("utf8")
            root.attrs["keras_version"] = keras_version.encode("utf8")
        for name, weights in layers:
            g = root.create_group(name)
            put_name_list(
                g, "weight_names", [w for w, _ in weights], keras2=keras2, min_chunks=split
            )
            for wname, value in weights:
                g.create_dataset(wname, data=np.asarray(value, dtype=np.float32))
