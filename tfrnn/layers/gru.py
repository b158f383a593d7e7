"""GRU layer: Gated Recurrent Unit - Cho et al. 2014 (both reset_after conventions)."""

from __future__ import annotations

import tf_keras

from tfrnn.cells.gru import GRUCell
from tfrnn.layers.cell_layer import CellLayer


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class GRU(CellLayer):
    """Gated Recurrent Unit - Cho et al. 2014 (both reset_after conventions).

    Arguments, weights and defaults as tf_keras's `GRU`.
    """

    cell_class = GRUCell
    cell_name = "gru_cell"
