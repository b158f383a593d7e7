"""ConvLSTMCell (1D/2D/3D): an LSTM whose input and recurrent transforms are
convolutions (Shi et al. 2015), with tf_keras's arguments, weights and math
(``tfrnn.cell_math.conv_lstm``, shared with ``tfrnn.keras3``).

The input convolution of a block of timesteps (the engine's loop iteration)
runs once, time folded into the batch; each step only runs the recurrent
convolution ('same' padding, stride 1). (One input convolution of the whole
sequence before the loop measured slower: scripts/bench.py's ConvLSTM2D case,
same-process A/B, inference 1.06 against 1.20 of tf_keras's speed, training
0.82 against 1.01.) Internally everything is channels_last (the only layout the CPU
convolutions have); with ``data_format='channels_first'`` inputs are
transposed once in the projection and states at the step boundary, so the
states and outputs the caller sees keep the channels_first layout.
"""

from __future__ import annotations

from typing import Any, ClassVar

import tf_keras
from tf_keras import activations, constraints, initializers, regularizers

from tfrnn.argument_checks import check_rate
from tfrnn.cell_math.conv_lstm import (  # noqa: F401  (kept importable here)
    ConvGeometry,
    conv_output_length,
    normalize_data_format,
    normalize_padding,
    normalize_tuple,
    to_channels_first,
    to_channels_last,
)
from tfrnn.cells.base import RecurrentCell, get_activation
from tfrnn.cells.conv_cells import ConvLSTMCellMixin


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTMCell(ConvLSTMCellMixin, RecurrentCell):
    """Cell of the N-D convolutional LSTM (``rank`` 1, 2 or 3).

    Arguments, defaults and weights as tf_keras's ``ConvLSTMCell``: kernel
    ``(*kernel_size, channels, 4*filters)``, recurrent kernel
    ``(*kernel_size, filters, 4*filters)``, bias ``(4*filters,)``; gates
    i, f, c, o. States ``[h, c]`` are shaped like one output step,
    ``(batch, *output_spatial, filters)`` (channels_first: filters first).
    """

    fixed_rank: ClassVar[int | None] = None

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = "tanh",
        recurrent_activation: Any = "hard_sigmoid",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.set_geometry(
            rank,
            filters,
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            default_data_format=tf_keras.backend.image_data_format(),
        )
        self.activation = get_activation(self.name, activation, "activation")
        self.recurrent_activation = get_activation(
            self.name, recurrent_activation, "recurrent_activation"
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate(self.name, dropout, "dropout")
        self.recurrent_dropout = check_rate(self.name, recurrent_dropout, "recurrent_dropout")

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if inputs is not None:
            return self.zero_states(inputs)
        if None in self._output_spatial:
            raise ValueError(
                f"Layer '{self.name}': the spatial input dimensions are unknown, so the "
                "initial state needs `inputs` to take its shape from."
            )
        return super().get_initial_state(batch_size=batch_size, dtype=dtype)

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        if self.fixed_rank is None:
            config["rank"] = self.rank
        return {**super().get_config(), **config}


class _FixedRankCell(ConvLSTMCell):
    """A ConvLSTMCell whose rank is fixed by the class (1D, 2D, 3D)."""

    def __init__(self, filters: int, kernel_size: Any, **kwargs: Any) -> None:
        kwargs.pop("rank", None)
        super().__init__(self.fixed_rank, filters, kernel_size, **kwargs)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM1DCell(_FixedRankCell):
    """Cell of ConvLSTM1D: inputs ``(batch, steps, channels)`` per timestep."""

    fixed_rank = 1


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM2DCell(_FixedRankCell):
    """Cell of ConvLSTM2D: inputs ``(batch, rows, cols, channels)`` per timestep."""

    fixed_rank = 2


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM3DCell(_FixedRankCell):
    """Cell of ConvLSTM3D: inputs ``(batch, d1, d2, d3, channels)`` per timestep."""

    fixed_rank = 3
