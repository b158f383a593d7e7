"""Loading a saved Keras model for export without running what the file supplies.

``tf_keras.models.load_model`` runs a Lambda layer's marshaled bytecode when
it reads an ``.h5`` file (its legacy loader has no safe mode), imports any
``module`` a ``.keras`` config names, and reads every weight array whole
before comparing its shape with the model's. ``load_model_for_export`` reads
the config first (bounded in size), refuses what would run code
(``config_scan``), audits the HDF5 weights (no links to other files, no
data declared beyond what is stored) and checks each weight array's declared
shape against the model built from the checked config; only then does
tf_keras load the file, in safe mode. A ``.keras`` file Keras 3 wrote (its
``metadata.json`` says so) is checked the same way and loaded by Keras 3
(``tfrnn.keras3.saving``), in safe mode, as a model of tfrnn.keras3 layers.

A SavedModel is a TensorFlow program: its graphs may do anything the ops
allow (``tf.io.write_file`` ...) and run when the model is called. Its Keras
configs are checked like the others, but only load SavedModels you trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
import tf_keras
from google.protobuf.message import DecodeError
from tf_keras.protobuf import saved_metadata_pb2
from tf_keras.src.saving.saving_lib import _save_state  # the walk .keras saving uses
from tf_keras.src.saving.serialization_lib import SafeModeScope

from tfrnn.compat.config_text import MAX_CONFIG_BYTES, check_structure
from tfrnn.compat.hdf5 import keras_version_text, model_config_text, open_h5, read_attr_list
from tfrnn.compat.hdf5_safety import (
    COMPRESSION_SLACK_BYTES,
    MAX_COMPRESSION_RATIO,
    audit_hdf5,
    declared_shape,
)
from tfrnn.export.config_scan import check_config

KERAS_CONFIG = "config.json"
KERAS_WEIGHTS = "model.weights.h5"
KERAS_METADATA = "keras_metadata.pb"
ARCHIVE_METADATA = "metadata.json"
MAX_ARCHIVE_METADATA_BYTES = 64 * 1024
SAVED_MODEL_FILE = "saved_model.pb"
MAX_ARCHIVE_MEMBERS = 10_000
# Keys of a config that compile=False loading never deserializes.
TRAINING_KEYS = ("compile_config", "training_config")


def load_model_for_export(path: str | os.PathLike, *, unsafe: bool = False) -> Any:
    """The model saved at ``path``: a tf_keras model (``.keras``, ``.h5`` or a
    SavedModel), or a Keras 3 model from a ``.keras`` file Keras 3 wrote.

    Without ``unsafe``, a config that would run code when loaded (Lambda layers,
    serialized lambdas, modules outside keras/tf_keras/tfrnn/tensorflow/numpy/
    builtins, TF-op layers calling TensorFlow functions outside a side-effect-free
    allowlist) is refused with a ValueError naming the layer, before any Keras
    deserialization, and loading runs in Keras's safe mode. ``unsafe=True``
    trusts the file: no config scan, ``safe_mode=False``. Either way the HDF5
    weights are audited and their declared shapes checked before any is read.
    """
    import tfrnn  # noqa: F401  (registers the layers for deserialization)

    path = os.fspath(path)
    with _naming_errors(path):
        if os.path.isdir(path):
            return _load_saved_model(path, unsafe)
        if not os.path.isfile(path):
            raise ValueError(f"'{path}' does not exist.")
        if zipfile.is_zipfile(path):
            return _load_keras_archive(path, unsafe)
        if h5py.is_hdf5(path):
            return _load_h5(path, unsafe)
        raise ValueError(_not_a_model(path))


def _not_a_model(path: str) -> str:
    """Why the file at ``path``, neither a zip archive nor HDF5, is no model."""
    if os.path.getsize(path) == 0:
        return (
            f"'{path}' is empty (0 bytes): expected a .keras archive, an HDF5 (.h5) model or "
            "a SavedModel directory; was it written completely?"
        )
    damaged = "so it is truncated or damaged, or not a Keras model"
    if path.endswith(".keras"):
        return (
            f"'{path}' is not a zip archive, which a .keras model is (tf_keras's "
            f"model.save('model.keras') writes one), {damaged}."
        )
    if path.endswith((".h5", ".hdf5")):
        return f"'{path}' lacks the HDF5 signature an .h5 model starts with, {damaged}."
    return f"'{path}' is not a .keras archive, an HDF5 (.h5) model or a SavedModel directory."


@contextlib.contextmanager
def _naming_errors(path: str) -> Iterator[None]:
    """Errors tf_keras raises on a damaged file become ValueErrors naming ``path``."""
    try:
        yield
    except ValueError as err:
        if path in str(err):
            raise
        raise ValueError(f"'{path}': {str(err)[:500]}") from None
    except (
        KeyError,
        AttributeError,
        IndexError,
        TypeError,
        RuntimeError,
        NotImplementedError,
    ) as err:
        raise ValueError(
            f"'{path}': Keras cannot load it ({type(err).__name__}: {str(err)[:500]})."
        ) from None


def _safe_mode(unsafe: bool) -> SafeModeScope:
    return SafeModeScope(safe_mode=not unsafe)


def _parse_json(text: str | bytes, where: str) -> Any:
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(
            f"{where}: the config holds {len(text):,} bytes, more than the "
            f"{MAX_CONFIG_BYTES:,} any model needs."
        )
    try:
        config = json.loads(text)
    except RecursionError:
        raise ValueError(f"{where}: the config is nested too deeply.") from None
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{where}: the config is not valid JSON ({err}).") from None
    check_structure(config, where)
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the config is a {type(config).__name__}, not a mapping.")
    return config


def _scanned(config: dict, where: str, unsafe: bool, keras: int = 2) -> dict:
    """``config`` (of tf_keras, or with ``keras=3`` of Keras 3) without its
    training part, after ``check_config`` unless ``unsafe``."""
    config = {k: v for k, v in config.items() if k not in TRAINING_KEYS}
    if not unsafe:
        check_config(config, where, keras)
    return config


def _load_h5(path: str, unsafe: bool) -> tf_keras.Model:
    with open_h5(path) as f:
        _refuse_keras3_h5(f, path)
        text = model_config_text(f, path)
        if text is None:
            raise ValueError(
                f"'{path}' holds no model_config: it holds weights only (save_weights). "
                "tfrnn-export needs a whole model (model.save); for old Keras weights "
                "run tfrnn-migrate SRC --config CONFIG -o model.keras first."
            )
        _scanned(_parse_json(text, f"{path} (model_config)"), path, unsafe)
        with _safe_mode(unsafe):
            skeleton = tf_keras.models.model_from_json(text)
        _check_h5_shapes(f, skeleton, path)
    with _safe_mode(unsafe):
        return tf_keras.models.load_model(path, compile=False)


def _check_h5_shapes(f: h5py.File, model: tf_keras.Model, path: str) -> None:
    """The file's weight arrays, layer by layer as tf_keras pairs them, have the
    shapes of ``model``'s weights."""
    root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
    saved = []
    for name in read_attr_list(root, "layer_names", path):
        group = root.get(name)
        if not isinstance(group, h5py.Group):
            raise ValueError(f"'{path}': layer '{name[:80]}' is listed but has no weights group.")
        names = read_attr_list(group, "weight_names", path)
        if names:
            saved.append((name, group, names))
    layers = [layer for layer in model.layers if layer.weights]
    if len(saved) != len(layers):
        raise ValueError(
            f"'{path}': the config builds {len(layers)} layers with weights but the file "
            f"holds weights for {len(saved)}; the weights do not belong to this config."
        )
    for (name, group, names), layer in zip(saved, layers):
        got = []
        for weight in names:
            dataset = group.get(weight)
            if not isinstance(dataset, h5py.Dataset):
                raise ValueError(
                    f"'{path}': layer '{name[:80]}' lists weight '{weight[:80]}' but the "
                    "file has no such array."
                )
            got.append(declared_shape(dataset))
        expected = [tuple(w.shape) for w in layer.trainable_weights + layer.non_trainable_weights]
        if got != expected:
            raise ValueError(
                f"'{path}': layer '{name[:80]}' ({type(layer).__name__}) needs weights of "
                f"shapes {expected} but the file holds arrays of shapes {got[:8]}; the weights "
                "do not belong to this config (a file from Keras 1? convert it with "
                "tfrnn-migrate first)."
            )


def _refuse_keras3_h5(f: h5py.File, path: str) -> None:
    """A Keras 3 ``.h5`` (its legacy format) is refused: tfrnn.keras3 models
    are read from ``.keras`` files."""
    version = keras_version_text(f, path) or ""
    if version.startswith("3."):
        raise ValueError(
            f"'{path}' was written by Keras {version[:20]} in its legacy HDF5 format; "
            "tfrnn-export reads Keras 3 models from .keras files: save the model with "
            "model.save('model.keras') (after `import tfrnn.keras3`) and export that."
        )


def _archive_keras(archive: zipfile.ZipFile, path: str) -> int:
    """3 when the archive's metadata.json says Keras 3 wrote it, else 2 (tf_keras)."""
    if ARCHIVE_METADATA not in archive.namelist():
        return 2
    if archive.getinfo(ARCHIVE_METADATA).file_size > MAX_ARCHIVE_METADATA_BYTES:
        raise ValueError(
            f"'{path}': {ARCHIVE_METADATA} holds more than the "
            f"{MAX_ARCHIVE_METADATA_BYTES:,} bytes a model's metadata needs."
        )
    metadata = _parse_json(archive.read(ARCHIVE_METADATA), f"{path} ({ARCHIVE_METADATA})")
    major = str(metadata.get("keras_version", "")).split(".")[0]
    return 3 if major.isdigit() and int(major) >= 3 else 2


def _keras3_saving(path: str) -> Any:
    """``tfrnn.keras3.saving``, or a ValueError naming ``path`` when Keras 3 cannot serve it."""
    try:
        from tfrnn.keras3 import saving
    except ImportError as err:
        raise ValueError(
            f"'{path}' was written by Keras 3, which cannot load it here: {err}"
        ) from None
    return saving


def _load_keras_archive(path: str, unsafe: bool) -> Any:
    if not path.endswith(".keras"):
        raise ValueError(
            f"'{path}' is a zip archive; a Keras model archive must be named *.keras."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(archive, path)
            keras = _archive_keras(archive, path)
            config = _parse_json(archive.read(KERAS_CONFIG), f"{path} ({KERAS_CONFIG})")
            config = _scanned(config, path, unsafe, keras)
            where = f"{path} ({KERAS_WEIGHTS})"
            with archive.open(KERAS_WEIGHTS) as raw, h5py.File(raw, "r") as weights:
                audit_hdf5(weights, where)
                if keras == 3:
                    keras3_saving = _keras3_saving(path)
                    skeleton = keras3_saving.model_from_config(config, safe_mode=not unsafe)
                    layout = keras3_saving.weight_layout(skeleton)
                else:
                    with _safe_mode(unsafe):
                        skeleton = tf_keras.saving.deserialize_keras_object(
                            config, safe_mode=not unsafe
                        )
                    layout = _weight_layout(skeleton)
                _check_archive_shapes(weights, layout, where)
    except zipfile.BadZipFile as err:
        raise ValueError(f"'{path}' is a damaged zip archive: {err}") from None
    if keras == 3:
        return keras3_saving.load_model(path, safe_mode=not unsafe)
    return tf_keras.saving.load_model(path, compile=False, safe_mode=not unsafe)


def _check_members(archive: zipfile.ZipFile, path: str) -> None:
    """Refuse members declaring more than they store (zip bombs) before any is read."""
    members = archive.infolist()
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ValueError(f"'{path}' holds {len(members):,} members, more than a model needs.")
    names = {info.filename for info in members}
    missing = [n for n in (KERAS_CONFIG, KERAS_WEIGHTS) if n not in names]
    if missing:
        raise ValueError(
            f"'{path}' lacks {', '.join(missing)}: not a model archive tf_keras wrote."
        )
    for info in members:
        if info.compress_type == zipfile.ZIP_STORED:
            limit = info.compress_size
        else:
            limit = MAX_COMPRESSION_RATIO * info.compress_size + COMPRESSION_SLACK_BYTES
        if info.file_size > limit:
            raise ValueError(
                f"'{path}': member '{info.filename[:80]}' declares {info.file_size:,} bytes "
                f"but stores {info.compress_size:,} (a zip bomb or a damaged archive)."
            )
        if info.filename == KERAS_CONFIG and info.file_size > MAX_CONFIG_BYTES:
            raise ValueError(
                f"'{path}': {KERAS_CONFIG} holds {info.file_size:,} bytes, more than the "
                f"{MAX_CONFIG_BYTES:,} any model needs."
            )


def _check_archive_shapes(
    weights: h5py.File, layout: dict[str, tuple[int, ...]], where: str
) -> None:
    """Every array Keras will read for a model (``layout``: path -> shape)
    exists with the model's shape."""
    for name, shape in layout.items():
        dataset = weights.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{where}: lacks the array '{name}' the model's config needs.")
        if declared_shape(dataset) != shape:
            raise ValueError(
                f"{where}: array '{name}' has shape {declared_shape(dataset)} but the model "
                f"built from the config needs {shape}; the weights do not belong to it."
            )


class _LayoutRecorder:
    """A stand-in for tf_keras's HDF5 weights store that keeps only each array's
    path and shape (``make`` and item assignment are all saving uses)."""

    def __init__(self) -> None:
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._prefix = ""

    def make(self, path: str) -> _LayoutRecorder:
        group = _LayoutRecorder()
        group.shapes = self.shapes
        group._prefix = f"{path}/vars" if path else "vars"
        return group

    def __setitem__(self, key: str, value: Any) -> None:
        self.shapes[f"{self._prefix}/{key}"] = tuple(np.shape(value))


def _weight_layout(model: tf_keras.Model) -> dict[str, tuple[int, ...]]:
    """Path -> shape of every array a ``.keras`` archive holds for ``model``.

    Taken from tf_keras's own saving walk (the layout its loader reads back),
    run against a recorder instead of a file: nothing is written (a temporary
    file could hit a full disk, which HDF5 does not survive)."""
    recorder = _LayoutRecorder()
    _save_state(
        model, weights_store=recorder, assets_store=None, inner_path="", visited_trackables=set()
    )
    return recorder.shapes


def _load_saved_model(path: str, unsafe: bool) -> tf_keras.Model:
    if not os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        raise ValueError(f"'{path}' is a directory but not a SavedModel (no {SAVED_MODEL_FILE}).")
    nodes = _keras_metadata(path)
    if not nodes:
        raise ValueError(
            f"'{path}' is a SavedModel without Keras metadata (written by tf.saved_model.save, "
            "as tfrnn-export writes them): it holds no Keras model to export."
        )
    for node_path, metadata in nodes:
        where = f"{path} ({KERAS_METADATA}, {node_path})"
        _scanned(_parse_json(metadata, where), where, unsafe)
    with _safe_mode(unsafe):
        model = tf_keras.models.load_model(path, compile=False)
    if not isinstance(model, tf_keras.Model):
        raise ValueError(f"'{path}' holds a {type(model).__name__}, not a Keras model.")
    return model


def _keras_metadata(path: str) -> list[tuple[str, str]]:
    """(node path, metadata JSON) of each Keras object, from keras_metadata.pb, or
    from saved_model.pb where older TensorFlow kept them."""
    metadata_file = os.path.join(path, KERAS_METADATA)
    if os.path.isfile(metadata_file):
        size = os.path.getsize(metadata_file)
        if size > 2 * MAX_CONFIG_BYTES:
            raise ValueError(
                f"'{metadata_file}' holds {size:,} bytes, more than any model's metadata needs."
            )
        proto = saved_metadata_pb2.SavedMetadata()
        with open(metadata_file, "rb") as f:
            _parse_proto(proto, f.read(), metadata_file)
        return [(node.node_path, node.metadata) for node in proto.nodes]
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, SAVED_MODEL_FILE), "rb") as f:
        _parse_proto(saved, f.read(), os.path.join(path, SAVED_MODEL_FILE))
    graphs = saved.meta_graphs
    nodes = graphs[0].object_graph_def.nodes if graphs else []
    return [
        (f"node {i}", node.user_object.metadata)
        for i, node in enumerate(nodes)
        if node.WhichOneof("kind") == "user_object"
        and node.user_object.identifier.startswith("_tf_keras")
        and node.user_object.metadata
    ]


def _parse_proto(proto: Any, data: bytes, where: str) -> None:
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError) as err:
        raise ValueError(f"'{where}' is damaged (not a valid protocol buffer: {err}).") from None
