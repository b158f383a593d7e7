"""StackedRNNCells for Keras 3: Keras 3 cells (tfrnn.keras3's or any) run as
one, each feeding the next (``StackedCellsMixin``, shared with tf_keras's)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfrnn.argument_checks import check_cell
from tfrnn.cells.stacking import StackedCellsMixin
from tfrnn.two_kerases import refuse_tf_keras_objects


@keras.saving.register_keras_serializable(package="tfrnn")
class StackedRNNCells(StackedCellsMixin, keras.Layer):
    """Wrapper allowing a stack of RNN cells to behave as a single cell (Keras 3)."""

    def __init__(self, cells: list, reverse_state_order: bool = False, **kwargs: Any) -> None:
        """``reverse_state_order``: states listed last cell first (as tfrnn's)."""
        refuse_tf_keras_objects("StackedRNNCells", "cells", cells, "StackedRNNCells")
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells needs a non-empty list of cells, got {cells!r}.")
        for cell in cells:
            check_cell(
                f"StackedRNNCells '{kwargs.get('name', 'stacked_rnn_cells')}'", cell, keras="keras"
            )
        super().__init__(**kwargs)
        self.cells = list(cells)
        self.reverse_state_order = bool(reverse_state_order)

    def cell_state_size(self, cell):
        """Keras 3 keeps each cell's states in a list, one state too."""
        size = cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def call(self, inputs, states, training=False, constants=None):
        fns = self.step_functions(inputs, training, constants=constants)
        return fns.step(fns.project(inputs), list(tf.nest.flatten(states)))

    def get_initial_state(self, batch_size=None):
        """Each cell's initial states (Keras 3's signature), in state order."""

        def initial_state_of(cell):
            init = getattr(cell, "get_initial_state", None)
            if init is not None:
                return init(batch_size=batch_size)
            sizes = cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
            return [tf.zeros((batch_size, size), self.compute_dtype) for size in sizes]

        return self.stacked_initial_state(initial_state_of)

    def get_config(self):
        cells = [keras.saving.serialize_keras_object(cell) for cell in self.cells]
        config = {**super().get_config(), "cells": cells}
        if self.reverse_state_order:
            config["reverse_state_order"] = True
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cells = [
            keras.saving.deserialize_keras_object(c, custom_objects=custom_objects)
            for c in config.pop("cells")
        ]
        return cls(cells, **config)
