"""Bidirectional (tf_keras): run a recurrent layer forwards and backwards, then
merge (``BidirectionalCall``)."""

from __future__ import annotations

import inspect
from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.layers.bidirectional_call import MERGE_MODES as MERGE_MODES  # kept importable
from tfrnn.layers.bidirectional_call import BidirectionalCall, cell_classes, check_merge_mode
from tfrnn.layers.rnn import (
    BatchIndependent,
    call_with_extras,
    split_list_inputs,
    symbolic_extras,
)
from tfrnn.saving import deserialize_layer
from tfrnn.two_kerases import refuse_keras3_arguments


def _unshared(config: Any) -> Any:
    """A copy of a (nested) layer config without tf_keras's ``shared_object_id``s.

    While a ``.keras`` file loads, tf_keras numbers every object serialized
    more than once and hands the first object rebuilt for a number to every
    later config carrying it. Each direction is rebuilt from a config of
    the same layer, so with those numbers both would get one cell (and one
    set of weights). The directions and the saved template are independent
    copies, as in tf_keras's Bidirectional.
    """
    if isinstance(config, dict):
        return {k: _unshared(v) for k, v in config.items() if k != "shared_object_id"}
    if isinstance(config, (list, tuple)):
        return type(config)(_unshared(v) for v in config)
    return config


def _copy_layer(layer: tf_keras.layers.Layer, flip_direction: bool) -> tf_keras.layers.Layer:
    config = _unshared(layer.get_config())
    if flip_direction:
        config["go_backwards"] = not config["go_backwards"]
    if "custom_objects" in inspect.signature(type(layer).from_config).parameters:
        return type(layer).from_config(config, custom_objects=cell_classes(layer))
    return type(layer).from_config(config)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class Bidirectional(BatchIndependent, BidirectionalCall, tf_keras.layers.Layer):
    """Bidirectional wrapper for recurrent layers (tf_keras's arguments).

    Args:
      layer: a recurrent layer (tfrnn or tf_keras) to run forwards.
      merge_mode: 'concat', 'sum', 'mul', 'ave' or None (a list of both).
      weights: optional initial weights, forward half then backward half.
      backward_layer: optional layer to run backwards instead of a copy.
    """

    def __init__(
        self,
        layer: tf_keras.layers.Layer,
        merge_mode: str | None = "concat",
        weights: list | None = None,
        backward_layer: tf_keras.layers.Layer | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name", "bidirectional")
        refuse_keras3_arguments(type(self), layer=layer, backward_layer=backward_layer)
        if not isinstance(layer, tf_keras.layers.Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"Bidirectional '{name}' wraps a recurrent layer (one with "
                f"`go_backwards`), got {layer!r}."
            )
        check_merge_mode(name, merge_mode)
        super().__init__(**kwargs)
        self._layer_config = _unshared(tf_keras.layers.serialize(layer))
        self._backward_layer_config = None
        if backward_layer is not None:
            self._backward_layer_config = _unshared(tf_keras.layers.serialize(backward_layer))
        self.setup_directions(layer, backward_layer, merge_mode, weights)
        # The wrapped layer itself, never built, as tf_keras keeps it: `.keras`
        # files then hold `layer/` (empty), `forward_layer/` and
        # `backward_layer/`, the layout tf_keras reads and writes. Not tracked
        # (as in tf_keras): a SavedModel or checkpoint holds the two halves.
        self._setattr_tracking = False
        self.layer = layer
        self._setattr_tracking = True

    def copy_direction(self, layer, flip_direction):
        return _copy_layer(layer, flip_direction)

    def rename_direction(self, layer, prefix):
        layer._name = prefix + layer.name

    def __call__(self, inputs, initial_state=None, constants=None, **kwargs):
        inputs, initial_state, constants = split_list_inputs(
            inputs, initial_state, constants, self._num_constants
        )
        refuse_keras3_arguments(
            self, inputs=inputs, initial_state=initial_state, constants=constants
        )
        if initial_state is not None:
            flat = tf.nest.flatten(initial_state)
            if len(flat) % 2:
                raise ValueError(
                    f"Bidirectional '{self.name}': initial_state must hold the forward "
                    f"states then the backward states (an even count), got {len(flat)}."
                )
            initial_state = flat
        if constants is not None:
            self._num_constants = len(constants)
        extra = symbolic_extras(initial_state, constants)
        if extra is not None:
            return call_with_extras(self, super().__call__, inputs, extra, kwargs)
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        if constants is not None:
            kwargs["constants"] = constants
        return super().__call__(inputs, **kwargs)

    def get_config(self):
        config = {"layer": self._layer_config, "merge_mode": self.merge_mode}
        if self._backward_layer_config is not None:
            config["backward_layer"] = self._backward_layer_config
        if self._num_constants:
            config["num_constants"] = self._num_constants
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = deserialize_layer(config.pop("layer"), custom_objects=custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_layer(backward, custom_objects=custom_objects)
        num_constants = config.pop("num_constants", 0)
        wrapper = cls(layer, backward_layer=backward, **config)
        wrapper._num_constants = num_constants
        return wrapper
