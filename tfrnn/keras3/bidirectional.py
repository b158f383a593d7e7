"""Bidirectional for Keras 3: a tfrnn.keras3 (or Keras 3) recurrent layer run
forwards and backwards, then merged (``BidirectionalCall``, shared with
tf_keras's); ``constants``, ``initial_state`` and the one-call bidirectional
cuDNN path as in ``tfrnn.Bidirectional``."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfrnn.keras3.rnn import as_tuples
from tfrnn.layers.bidirectional_call import BidirectionalCall, cell_classes, check_merge_mode
from tfrnn.two_kerases import refuse_tf_keras_objects


def _copy(layer: keras.Layer, name: str, go_backwards: bool) -> keras.Layer:
    """A fresh copy of ``layer`` from its config, named ``name`` (its cells'
    classes found even when they are not registered)."""
    config = keras.saving.serialize_keras_object(layer)
    config["config"].update(name=name, go_backwards=go_backwards)
    return keras.saving.deserialize_keras_object(config, custom_objects=cell_classes(layer))


def _unprefixed(name: str) -> str:
    for prefix in ("forward_", "backward_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


@keras.saving.register_keras_serializable(package="tfrnn")
class Bidirectional(BidirectionalCall, keras.Layer):
    """Bidirectional wrapper for recurrent layers (Keras 3; tfrnn's arguments).

    Args:
      layer: a recurrent layer (one with ``go_backwards``) to run forwards.
      merge_mode: 'concat', 'sum', 'mul', 'ave' or None (a list of both).
      weights: optional initial weights, forward half then backward half.
      backward_layer: optional layer to run backwards instead of a copy.
    """

    def __init__(
        self,
        layer: keras.Layer,
        merge_mode: str | None = "concat",
        weights: list | None = None,
        backward_layer: keras.Layer | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name", "bidirectional")
        for what, value in (("layer", layer), ("backward_layer", backward_layer)):
            refuse_tf_keras_objects(f"Bidirectional '{name}'", what, value, "Bidirectional")
        if not isinstance(layer, keras.Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"Bidirectional '{name}' wraps a recurrent Keras 3 layer (one with "
                f"`go_backwards`), got {layer!r}."
            )
        check_merge_mode(name, merge_mode)
        super().__init__(**kwargs)
        self.setup_directions(layer, backward_layer, merge_mode, weights)
        self.input_spec = layer.input_spec

    def copy_direction(self, layer, flip_direction):
        prefix = "backward_" if flip_direction else "forward_"
        flipped = layer.go_backwards != flip_direction
        return _copy(layer, prefix + _unprefixed(layer.name), flipped)

    def rename_direction(self, layer, prefix):
        """The copies are named when made; a given backward layer keeps its name."""

    def build(self, sequences_shape):
        super().build(sequences_shape)

    def compute_output_shape(self, sequences_shape):
        return as_tuples(super().compute_output_shape(sequences_shape))

    def call(self, sequences, initial_state=None, mask=None, training=None, constants=None):
        if initial_state is not None:
            initial_state = list(tf.nest.flatten(initial_state))
            if len(initial_state) % 2:
                raise ValueError(
                    f"Bidirectional '{self.name}': initial_state must hold the forward "
                    f"states then the backward states (an even count), got "
                    f"{len(initial_state)}."
                )
        if constants is not None:
            constants = list(constants) if isinstance(constants, (list, tuple)) else [constants]
            self._num_constants = len(constants)
        return super().call(
            sequences,
            mask=mask,
            training=training,
            initial_state=initial_state,
            constants=constants,
        )

    def get_config(self):
        config = {
            "merge_mode": self.merge_mode,
            "layer": keras.saving.serialize_keras_object(self.forward_layer),
            "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(
            config.pop("layer"), custom_objects=custom_objects
        )
        backward = keras.saving.deserialize_keras_object(
            config.pop("backward_layer"), custom_objects=custom_objects
        )
        return cls(layer, backward_layer=backward, **config)
