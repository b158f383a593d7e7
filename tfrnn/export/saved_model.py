"""SavedModel export: a plain TensorFlow artifact with a ``serving_default``
signature, loadable with ``tf.saved_model.load`` where tfrnn is not installed."""

from __future__ import annotations

import os
from collections.abc import Callable

import tensorflow as tf

from tfrnn.export.atomic import atomic_output
from tfrnn.export.keras_models import KerasModel, tf_variables
from tfrnn.export.signatures import SERVING, STREAMING
from tfrnn.export.tracing import check_exportable, recurrent_layers, trace


def export_saved_model(
    model: KerasModel,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    streaming: bool = False,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Write ``model`` (a tf_keras model of tfrnn layers, or a Keras 3 model of
    tfrnn.keras3 layers) as a SavedModel at ``path`` and return ``path``.

    The ``serving_default`` signature takes the model's inputs by name (batch
    and, where the model leaves it open, time are dynamic) and returns its
    outputs by name. Only TensorFlow ops and the weights are saved (no Keras
    objects), so the artifact is small and needs no tfrnn to load. With
    ``streaming=True`` a second signature, ``streaming`` (as in a streaming
    .tflite), also takes every recurrent layer's states (``<layer>_h``, and
    ``<layer>_c`` for LSTMs; see ``tracing.state_names``) and returns the new
    ones, so a sequence can be fed in chunks. A stateful model's
    ``serving_default`` keeps and updates its states, as the model does.
    ``progress`` is called with the name of each stage as it starts.

    The write is atomic: on any error nothing is left at ``path``. An
    existing ``path`` is refused unless ``overwrite=True``.
    """
    stage = progress or (lambda stage: None)
    check_exportable(model)
    stage("tracing the model")
    signatures = {}
    for name, streams in ((SERVING, False), (STREAMING, True))[: 1 + streaming]:
        signatures[name], _ = trace(model, batch_size=None, streaming=streams, builtin_loops=False)
    module = tf.Module()
    module.weights = tf_variables(model)
    module.recurrent_states = [
        v for layer in recurrent_layers(model) if layer.stateful for v in layer.states
    ]
    stage(f"writing {path}")
    with atomic_output(path, overwrite=overwrite) as target:
        tf.saved_model.save(module, str(target), signatures=signatures)
    return str(path)
