"""LSTMCell: Hochreiter & Schmidhuber 1997, gates in tf_keras order i, f, c, o."""

from __future__ import annotations

from typing import Any

import tf_keras

from tfrnn.cell_math.dense import masked_projection as masked_projection  # kept importable here
from tfrnn.cell_math.dense import recurrent_product as recurrent_product  # kept importable here
from tfrnn.cells.base import DenseGatedCell, get_activation
from tfrnn.cells.dense_cells import LSTMCellMixin


def check_implementation(layer_name: str, implementation: Any) -> int:
    """1 or 2; 0 is the Keras 2.0 spelling of 1."""
    if implementation == 0:
        return 1
    if implementation not in (1, 2):
        raise ValueError(
            f"Layer '{layer_name}': `implementation` must be 1 or 2 (0 is read as 1), "
            f"got {implementation!r}."
        )
    return int(implementation)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class LSTMCell(LSTMCellMixin, DenseGatedCell):
    """Cell class for the LSTM layer (tf_keras's arguments and weights)."""

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            **kwargs,
        )
        self.recurrent_activation = get_activation(
            self.name, recurrent_activation, "recurrent_activation"
        )
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = check_implementation(self.name, implementation)

    def get_config(self):
        config = super().get_config()
        config.update(
            recurrent_activation=tf_keras.activations.serialize(self.recurrent_activation),
            unit_forget_bias=self.unit_forget_bias,
            implementation=self.implementation,
        )
        return config
