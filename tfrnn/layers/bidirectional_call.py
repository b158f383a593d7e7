"""What Bidirectional does in either Keras: run a recurrent layer forwards
and a copy backwards (as one bidirectional cuDNN call where both qualify),
then merge. Keras-free: tf_keras's ``tfrnn.Bidirectional`` and Keras 3's
``tfrnn.keras3.Bidirectional`` mix it in and add their checks, how they copy
a layer, and their config.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrnn.layers.cudnn_selection import bidirectional_halves
from tfrnn.layers.recurrent_call import split_list_inputs, with_time_steps

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


def check_merge_mode(name: str, merge_mode: Any) -> None:
    """A ValueError naming the Bidirectional layer unless ``merge_mode`` is one of MERGE_MODES."""
    if merge_mode not in MERGE_MODES:
        raise ValueError(
            f"Bidirectional '{name}': merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}."
        )


def cell_classes(layer: Any) -> dict[str, type]:
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


class BidirectionalCall:
    """The two directions of a Bidirectional layer and its call.

    The Keras class defines ``copy_direction(layer, flip_direction)`` (a copy
    of ``layer`` from its config, running the other way when flipped) and
    ``rename_direction(layer, prefix)``, then calls ``setup_directions``.
    """

    def copy_direction(self, layer: Any, flip_direction: bool) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define copy_direction")

    def rename_direction(self, layer: Any, prefix: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define rename_direction")

    def setup_directions(
        self, layer: Any, backward_layer: Any, merge_mode: str | None, weights: list | None
    ) -> None:
        """The forward copy of ``layer`` and the backward one (a flipped copy,
        or ``backward_layer``), and the wrapper's settings taken from them."""
        self.forward_layer = self.copy_direction(layer, flip_direction=False)
        if backward_layer is None:
            self.backward_layer = self.copy_direction(layer, flip_direction=True)
        else:
            self._check_backward_layer(layer, backward_layer)
            self.backward_layer = backward_layer
        self.rename_direction(self.forward_layer, "forward_")
        self.rename_direction(self.backward_layer, "backward_")
        for direction in (self.forward_layer, self.backward_layer):
            if hasattr(direction, "zero_output_for_mask"):
                direction.zero_output_for_mask = direction.return_sequences
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
