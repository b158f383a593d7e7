"""SavedModel export: a plain TensorFlow artifact with a ``serving_default``
signature, loadable with ``tf.saved_model.load`` where tfrnn is not installed."""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras

from tfrnn.export.atomic import atomic_output
from tfrnn.export.tracing import check_exportable, recurrent_layers, trace


def export_saved_model(
    model: tf_keras.Model,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    streaming: bool = False,
) -> str:
    """Write ``model`` as a SavedModel at ``path`` and return ``path``.

    The ``serving_default`` signature takes the model's inputs by name (batch
    and, where the model leaves it open, time are dynamic) and returns its
    outputs by name. Only TensorFlow ops and the weights are saved (no Keras
    objects), so the artifact is small and needs no tfrnn to load. With
    ``streaming=True`` a second signature, ``streaming``, also takes every
    recurrent layer's states (``<layer>_state_<i>``) and returns the new
    ones, so a sequence can be fed in chunks. A stateful model's
    ``serving_default`` keeps and updates its states, as the model does.

    The write is atomic: on any error nothing is left at ``path``. An
    existing ``path`` is refused unless ``overwrite=True``.
    """
    check_exportable(model)
    signatures = {
        "serving_default": trace(model, batch_size=None, streaming=False, builtin_loops=False)[0]
    }
    if streaming:
        signatures["streaming"] = trace(
            model, batch_size=None, streaming=True, builtin_loops=False
        )[0]
    module = tf.Module()
    module.weights = list(model.variables)
    module.recurrent_states = [
        v for layer in recurrent_layers(model) if layer.stateful for v in layer.states
    ]
    with atomic_output(path, overwrite=overwrite) as target:
        tf.saved_model.save(module, str(target), signatures=signatures)
    return str(path)
