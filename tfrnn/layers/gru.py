"""GRU layer: Gated Recurrent Unit - Cho et al. 2014 (both reset_after conventions)."""

from __future__ import annotations

from typing import Any

import tf_keras

from tfrnn.cells.gru import GRUCell
from tfrnn.engine import cudnn
from tfrnn.layers.cell_layer import CellLayer
from tfrnn.layers.cudnn_selection import CudnnSelection


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class GRU(CudnnSelection, CellLayer):
    """Gated Recurrent Unit - Cho et al. 2014 (both reset_after conventions).

    Arguments, weights and defaults as tf_keras's `GRU`, plus ``use_cudnn``
    ('auto', True or False): 'auto' runs CudnnRNNV3 whenever the layer runs
    on a GPU and the configuration allows it (tanh, sigmoid, use_bias,
    reset_after, no recurrent dropout, no unroll, mask right-padded or none);
    True does the same but raises ValueError if the configuration does not
    allow it; False always runs the generic engine. Both paths give the same
    numbers.
    """

    cell_class = GRUCell
    cell_name = "gru_cell"
    cudnn_mode = cudnn.GRU

    def __init__(self, units: int | None = None, use_cudnn: Any = "auto", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self._setup_cudnn(use_cudnn)

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}
