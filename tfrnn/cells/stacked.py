"""StackedRNNCells (tf_keras): several cells run as one, each feeding the next
(``StackedCellsMixin``, shared with ``tfrnn.keras3``)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.argument_checks import check_cell
from tfrnn.cell_math.steps import cell_output_size as cell_output_size  # kept importable here
from tfrnn.cells.base import RecurrentCell
from tfrnn.cells.stacking import StackedCellsMixin
from tfrnn.saving import deserialize_layer
from tfrnn.two_kerases import refuse_keras3_arguments


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class StackedRNNCells(StackedCellsMixin, RecurrentCell):
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

    def call(self, inputs, states, constants=None, training=None):
        # As tf_keras's: constants reach the cells whose call accepts them.
        fns = self.step_functions(inputs, training, constants=constants)
        output, new_states = fns.step(fns.project(inputs), list(tf.nest.flatten(states)))
        return output, new_states

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        def initial_state_of(cell):
            init = getattr(cell, "get_initial_state", None)
            if init is not None:
                return init(inputs=inputs, batch_size=batch_size, dtype=dtype)
            return RecurrentCell.get_initial_state(cell, inputs, batch_size, dtype)

        return self.stacked_initial_state(initial_state_of)

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
