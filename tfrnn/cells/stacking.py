"""What StackedRNNCells is in either Keras: cells run as one, each feeding
the next, with their states side by side.

Keras-free: tf_keras's ``tfrnn.StackedRNNCells`` and Keras 3's
``tfrnn.keras3.StackedRNNCells`` mix it in and add their constructor, how
they ask a cell for its initial states, and their config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tfrnn.cell_math.steps import (
    CellStack,
    StepFunctions,
    cell_output_size,
    cell_takes_constants,
    step_functions_for,
)


class StackedCellsMixin(CellStack):
    """The stack's sizes, build and step functions. The Keras class sets
    ``cells`` and ``reverse_state_order``."""

    def _in_state_order(self, per_cell: list) -> list:
        """Per-cell items (cells in order) <-> the order of ``state_size``."""
        return per_cell[::-1] if self.reverse_state_order else per_cell

    @property
    def state_size(self):
        return tuple(self._in_state_order([self.cell_state_size(c) for c in self.cells]))

    def cell_state_size(self, cell: Any) -> Any:
        """The structure of one cell's states within the stack's: its
        ``state_size`` (tf_keras: one state is a tensor, not a list)."""
        return cell.state_size

    @property
    def output_size(self):
        return cell_output_size(self.cells[-1])

    def build(self, input_shape):
        """Builds each cell on the previous one's output shape; inputs and
        outputs may be nested (each part ``(batch, ...)``), as in tf_keras. Cells that are no Keras layer are not built."""
        shape = _as_shapes(input_shape)
        batch = tf.nest.flatten(shape)[0][0]
        for cell in self.cells:
            if getattr(cell, "built", True) is False:
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
            collected = [_restructure(new_states, self.cell_state_size(self.cells[0]))]
            for fns, cell, cell_states in zip(functions[1:], self.cells[1:], states[1:]):
                output, new_states = fns.step(fns.project(output), _cell_states(cell_states))
                collected.append(_restructure(new_states, self.cell_state_size(cell)))
            return output, self._in_state_order(collected)

        return StepFunctions(functions[0].project, step)

    def stacked_initial_state(self, initial_state_of: Callable[[Any], Any]) -> list:
        """The cells' initial states (``initial_state_of(cell)`` each, as the
        Keras class asks a cell), structured and ordered as ``state_size``."""
        states = [
            _restructure(initial_state_of(cell), self.cell_state_size(cell)) for cell in self.cells
        ]
        return self._in_state_order(states)


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
