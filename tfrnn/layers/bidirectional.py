"""Bidirectional: run a recurrent layer forwards and backwards, then merge."""

from __future__ import annotations

import inspect
from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.layers.cudnn_selection import bidirectional_halves
from tfrnn.layers.rnn import (
    BatchIndependent,
    call_with_extras,
    split_list_inputs,
    symbolic_extras,
    with_time_steps,
)
from tfrnn.saving import deserialize_layer
from tfrnn.two_kerases import refuse_keras3_arguments

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _merge(mode: str | None, forward: tf.Tensor, backward: tf.Tensor):
    if mode == "concat":
        return tf.concat([forward, backward], axis=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    if mode == "ave":
        return (forward + backward) / 2
    return [forward, backward]


def _cell_classes(layer: tf_keras.layers.Layer) -> dict[str, type]:
    """Class name -> class of ``layer``'s cell and the cells nested in it, so a
    copy rebuilt from the config finds cell classes that are not registered
    (as tf_keras's Bidirectional does)."""
    classes: dict[str, type] = {}
    pending = [getattr(layer, "cell", None)]
    while pending:
        cell = pending.pop()
        if cell is None:
            continue
        classes[type(cell).__name__] = type(cell)
        pending.extend(getattr(cell, "cells", None) or [])
    return classes


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
        return type(layer).from_config(config, custom_objects=_cell_classes(layer))
    return type(layer).from_config(config)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class Bidirectional(BatchIndependent, tf_keras.layers.Layer):
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
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional '{name}': merge_mode must be one of {MERGE_MODES}, "
                f"got {merge_mode!r}."
            )
        super().__init__(**kwargs)
        self._layer_config = _unshared(tf_keras.layers.serialize(layer))
        self.forward_layer = _copy_layer(layer, flip_direction=False)
        if backward_layer is None:
            self.backward_layer = _copy_layer(layer, flip_direction=True)
            self._backward_layer_config = None
        else:
            self._check_backward_layer(layer, backward_layer)
            self.backward_layer = backward_layer
            self._backward_layer_config = _unshared(tf_keras.layers.serialize(backward_layer))
        self.forward_layer._name = "forward_" + self.forward_layer.name
        self.backward_layer._name = "backward_" + self.backward_layer.name
        for direction in (self.forward_layer, self.backward_layer):
            if hasattr(direction, "zero_output_for_mask"):
                direction.zero_output_for_mask = direction.return_sequences
        # The wrapped layer itself, never built, as tf_keras keeps it: `.keras`
        # files then hold `layer/` (empty), `forward_layer/` and
        # `backward_layer/`, the layout tf_keras reads and writes. Not tracked
        # (as in tf_keras): a SavedModel or checkpoint holds the two halves.
        self._setattr_tracking = False
        self.layer = layer
        self._setattr_tracking = True
        self.merge_mode = merge_mode
        if weights:
            # Set once the wrapper is built (its weights are the forward
            # half's, then the backward half's). On the halves they would
            # never be set: the wrapper builds them, so their first call does
            # not run the build step that sets initial weights.
            self._initial_weights = list(weights)
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self._num_constants = 0
        # Run two qualifying halves as one bidirectional cuDNN call (see
        # cudnn_selection.bidirectional_halves). Export turns this off while it
        # traces, so each half's sequence computation can be swapped.
        self._fuse_halves = True

    def _check_backward_layer(self, layer, backward_layer):
        if backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(
                f"Bidirectional '{self.name}': backward_layer.go_backwards must be the "
                "opposite of layer.go_backwards."
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(layer, attr) != getattr(backward_layer, attr):
                raise ValueError(
                    f"Bidirectional '{self.name}': forward and backward layers must agree "
                    f"on `{attr}` ({getattr(layer, attr)} vs {getattr(backward_layer, attr)})."
                )

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

    def build(self, input_shape):
        with tf.name_scope(self.forward_layer.name):
            self.forward_layer.build(input_shape)
        with tf.name_scope(self.backward_layer.name):
            self.backward_layer.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None, training=None, initial_state=None, constants=None):
        inputs, initial_state, constants = split_list_inputs(
            inputs, initial_state, constants, self._num_constants
        )
        forward_kwargs, backward_kwargs = {}, {}
        if mask is not None:
            forward_kwargs["mask"] = backward_kwargs["mask"] = mask
        if training is not None:
            forward_kwargs["training"] = backward_kwargs["training"] = training
        if constants is not None:
            forward_kwargs["constants"] = backward_kwargs["constants"] = constants
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_kwargs["initial_state"] = list(initial_state[:half])
            backward_kwargs["initial_state"] = list(initial_state[half:])
        # Two qualifying tfrnn LSTM (or GRU) halves: one bidirectional cuDNN call on a GPU.
        halves = None
        if self._fuse_halves:
            halves = bidirectional_halves(
                self.forward_layer,
                self.backward_layer,
                inputs,
                mask,
                training,
                initial_state,
                constants,
            )
        if halves is None:
            halves = (
                self.forward_layer(inputs, **forward_kwargs),
                self.backward_layer(inputs, **backward_kwargs),
            )
        forward, backward = halves
        states = []
        if self.return_state:
            states = list(forward[1:]) + list(backward[1:])
            forward, backward = forward[0], backward[0]
        if self.return_sequences:
            time_axis = 0 if getattr(self.forward_layer, "time_major", False) else 1
            steps = tf.nest.flatten(inputs)[0].shape[time_axis]
            forward = with_time_steps(forward, steps, time_axis)
            backward = with_time_steps(tf.reverse(backward, [time_axis]), steps, time_axis)
        output = _merge(self.merge_mode, forward, backward)
        if self.return_state:
            return (output if isinstance(output, list) else [output]) + states
        return output

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            states = list(forward[1:]) * 2
            forward = forward[0]
        forward = tf.TensorShape(forward)
        if self.merge_mode == "concat":
            dims = forward.as_list()
            dims[-1] = None if dims[-1] is None else dims[-1] * 2
            output = [tf.TensorShape(dims)]
        elif self.merge_mode is None:
            output = [forward, forward]
        else:
            output = [forward]
        output = output + states
        return output[0] if len(output) == 1 else output

    def compute_mask(self, inputs, mask):
        mask = tf.nest.flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n_states = len(tf.nest.flatten(self.forward_layer.states)) * 2
            masks += [None] * n_states
        return masks[0] if len(masks) == 1 else masks

    def reset_states(self, states=None):
        """Reset both directions' states (forward half, then backward half)."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = list(states)
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

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
