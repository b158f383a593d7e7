"""StackedRNNCells: several cells run as one, each feeding the next."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.cells.base import (
    RecurrentCell,
    StepFunctions,
    cell_takes_constants,
    check_cell,
    step_functions_for,
)
from tfrnn.saving import deserialize_layer
from tfrnn.two_kerases import refuse_keras3_arguments


def cell_output_size(cell: Any):
    """A cell's output size; tf_keras falls back to its first state's size."""
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    state_size = cell.state_size
    return state_size[0] if isinstance(state_size, (list, tuple)) else state_size


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class StackedRNNCells(RecurrentCell):
    """Wrapper allowing a stack of RNN cells to behave as a single cell."""

    def __init__(self, cells: list, reverse_state_order: bool = False, **kwargs: Any) -> None:
        """``reverse_state_order``: states listed last cell first (tf_keras's
        legacy order, for code that unpacks ``return_state``)."""
        refuse_keras3_arguments(type(self), cells=cells)
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells needs a non-empty list of cells, got {cells!r}.")
        for cell in cells:
            check_cell(f"StackedRNNCells '{kwargs.get('name', 'stacked_rnn_cells')}'", cell)
        super().__init__(**kwargs)
        self.cells = list(cells)
        self.reverse_state_order = bool(reverse_state_order)

    def _in_state_order(self, per_cell: list) -> list:
        """Per-cell items (cells in order) <-> the order of ``state_size``."""
        return per_cell[::-1] if self.reverse_state_order else per_cell

    @property
    def state_size(self):
        return tuple(self._in_state_order([c.state_size for c in self.cells]))

    @property
    def output_size(self):
        return cell_output_size(self.cells[-1])

    def build(self, input_shape):
        """Builds each cell on the previous one's output shape; inputs and
        outputs may be nested (each part ``(batch, ...)``), as in tf_keras."""
        shape = _as_shapes(input_shape)
        batch = tf.nest.flatten(shape)[0][0]
        for cell in self.cells:
            if isinstance(cell, tf_keras.layers.Layer) and not cell.built:
                with tf.name_scope(cell.name):
                    cell.build(shape)
                    cell.built = True
            shape = _map_sizes(
                lambda size: tf.TensorShape([batch] + tf.TensorShape(size).as_list()),
                cell_output_size(cell),
            )
        self.built = True

    def takes_constants(self) -> bool:
        """Always: as in tf_keras, the stack hands constants to the cells that
        take them and the others ignore them."""
        return True

    def call(self, inputs, states, constants=None, training=None):
        # As tf_keras's: constants reach the cells whose call accepts them.
        fns = self.step_functions(inputs, training, constants=constants)
        output, new_states = fns.step(fns.project(inputs), list(tf.nest.flatten(states)))
        return output, new_states

    def step_functions(self, step_sample, training=None, constants=None) -> StepFunctions:
        def functions_for(cell, sample):
            cell_constants = constants if cell_takes_constants(cell) else None
            return step_functions_for(cell, sample, training, cell_constants)

        first = tf.nest.flatten(step_sample)[0]
        batch = tf.shape(first)[0]

        def zeros(size):
            return tf.zeros(tf.concat([[batch], tf.TensorShape(size).as_list()], 0), first.dtype)

        functions = [functions_for(self.cells[0], step_sample)]
        for previous, cell in zip(self.cells[:-1], self.cells[1:]):
            sample = _map_sizes(zeros, cell_output_size(previous))
            functions.append(functions_for(cell, sample))

        def step(projected, states):
            states = tf.nest.pack_sequence_as(self.state_size, tf.nest.flatten(states))
            states = self._in_state_order(list(states))
            output, new_states = functions[0].step(projected, _cell_states(states[0]))
            collected = [_restructure(new_states, self.cells[0].state_size)]
            for fns, cell, cell_states in zip(functions[1:], self.cells[1:], states[1:]):
                output, new_states = fns.step(fns.project(output), _cell_states(cell_states))
                collected.append(_restructure(new_states, cell.state_size))
            return output, self._in_state_order(collected)

        return StepFunctions(functions[0].project, step)

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        states = []
        for cell in self.cells:
            init = getattr(cell, "get_initial_state", None)
            if init is not None:
                state = init(inputs=inputs, batch_size=batch_size, dtype=dtype)
            else:
                state = RecurrentCell.get_initial_state(cell, inputs, batch_size, dtype)
            states.append(_restructure(state, cell.state_size))
        return self._in_state_order(states)

    def get_config(self):
        cells = [tf_keras.layers.serialize(cell) for cell in self.cells]
        config = {**super().get_config(), "cells": cells}
        if self.reverse_state_order:
            config["reverse_state_order"] = True
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cells = [deserialize_layer(c, custom_objects=custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)


def _cell_states(states):
    """One cell's states as tf_keras's stack hands them over: nested as its
    state_size (a namedtuple stays one), a single state in a list."""
    return states if tf.nest.is_nested(states) else [states]


def _is_size(value) -> bool:
    """An int, None or TensorShape: one tensor's size, not a structure of them."""
    return value is None or isinstance(value, (int, tf.TensorShape))


def _map_sizes(fn, sizes):
    """``fn`` over a cell's (possibly nested) sizes, a TensorShape kept whole."""
    if _is_size(sizes):
        return fn(sizes)
    return tf.nest.map_structure(fn, sizes)


def _as_shapes(shape):
    """A step input shape as a TensorShape, or a structure of them (tuples
    of ints or None are one shape each)."""
    if isinstance(shape, tf.TensorShape) or (
        isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, int) for d in shape)
    ):
        return tf.TensorShape(shape)
    if isinstance(shape, dict):
        return {key: _as_shapes(value) for key, value in shape.items()}
    parts = [_as_shapes(part) for part in shape]
    return type(shape)(*parts) if hasattr(shape, "_fields") else type(shape)(parts)


def _restructure(states, state_size):
    """Give one cell's states the structure of its state_size."""
    if isinstance(state_size, (list, tuple)):
        return tf.nest.pack_sequence_as(list(state_size), tf.nest.flatten(states))
    return tf.nest.flatten(states)[0]
