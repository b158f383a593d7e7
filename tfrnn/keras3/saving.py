"""Keras 3's side of reading a ``.keras`` file for export
(``tfrnn.export.model_loading``): the model a checked config builds, the path
and shape of every weight array Keras 3 will read for it, and the load. (A
submodule of ``tfrnn.keras3``: importing it registers tfrnn's layers.)"""

from __future__ import annotations

import os
from typing import Any

import keras
from keras.src.saving.saving_lib import H5IOStore, _save_state  # the walk .keras saving uses


def model_from_config(config: dict[str, Any], safe_mode: bool) -> keras.Model:
    """The model ``config`` (a ``.keras`` archive's config.json) describes, built."""
    return keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)


def load_model(path: str | os.PathLike, safe_mode: bool) -> keras.Model:
    return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)


class _LayoutRecorder(H5IOStore):
    """A stand-in for Keras 3's HDF5 weights store that keeps only each array's
    path and shape (``make`` and item assignment are all saving uses)."""

    def __init__(self) -> None:  # no file: nothing of H5IOStore's is set up
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._prefix = "vars"

    def __bool__(self) -> bool:
        return True

    def make(self, path: str, metadata: dict | None = None) -> _LayoutRecorder:
        self._prefix = f"{path}/vars" if path else "vars"
        return self

    def __setitem__(self, key: str, value: Any) -> None:
        self.shapes[f"{self._prefix}/{key}"] = tuple(value.shape)


def weight_layout(model: keras.Model) -> dict[str, tuple[int, ...]]:
    """Path -> shape of every array a ``.keras`` archive holds for ``model``,
    from Keras 3's own saving walk run against a recorder (nothing is written)."""
    recorder = _LayoutRecorder()
    _save_state(
        model, weights_store=recorder, assets_store=None, inner_path="", visited_saveables=set()
    )
    return recorder.shapes
