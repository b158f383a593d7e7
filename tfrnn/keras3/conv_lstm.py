"""ConvLSTM1D/2D/3D and their cells for Keras 3: tfrnn's arguments (plus
Keras 3's ``seed``; ``recurrent_activation`` defaults to 'sigmoid', as in
Keras 3), Keras 3's weights, and the geometry and math the tf_keras
ConvLSTM layers run (``ConvLSTMCellMixin``, ``ConvLSTMLayerMixin``)."""

from __future__ import annotations

from typing import Any, ClassVar

import keras
import tensorflow as tf

from tfrnn.argument_checks import check_rate
from tfrnn.cells.conv_cells import ConvLSTMCellMixin
from tfrnn.keras3.activations import get_activation
from tfrnn.keras3.cells import seeded_dropout_masks, set_weight_settings, weight_settings_config
from tfrnn.keras3.layers import CellLayer
from tfrnn.keras3.rnn import as_tuples
from tfrnn.layers.conv_layer_mixin import ConvLSTMLayerMixin
from tfrnn.two_kerases import refuse_tf_keras_objects, tfrnn_class_name


class ConvLSTMCell(ConvLSTMCellMixin, keras.Layer):
    """Cell of the N-D convolutional LSTM (``rank`` 1, 2 or 3), Keras 3."""

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
        seed: int | None = None,
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
            default_data_format=keras.config.image_data_format(),
        )
        self.activation = get_activation(self.name, activation, "activation")
        self.recurrent_activation = get_activation(
            self.name, recurrent_activation, "recurrent_activation"
        )
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        set_weight_settings(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self.dropout = check_rate(self.name, dropout, "dropout")
        self.recurrent_dropout = check_rate(self.name, recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = tfrnn_class_name(self)
        refuse_tf_keras_objects(f"{name} '{self.name}'", "inputs", [args, kwargs], name)
        return super().__call__(*args, **kwargs)

    def draw_dropout_masks(self, sample, rate, count, training):
        return seeded_dropout_masks(self, sample, rate, count, training)

    def call(self, inputs, states, training=False):
        fns = self.step_functions(inputs, training)
        return fns.step(fns.project(inputs), list(states))

    def get_initial_state(self, batch_size=None):
        """Zero ``[h, c]`` (Keras 3's signature); the spatial sizes must be known."""
        shape = (batch_size, *tf.TensorShape(self.output_size).as_list())
        if None in shape[1:]:
            raise ValueError(
                f"Layer '{self.name}': the spatial input dimensions are unknown, so the "
                "initial state cannot be made from the batch size alone."
            )
        return [tf.zeros(shape, self.compute_dtype) for _ in range(2)]

    def get_config(self):
        config = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            **weight_settings_config(self),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        if self.fixed_rank is None:
            config["rank"] = self.rank
        return {**super().get_config(), **config}


class _FixedRankCell(ConvLSTMCell):
    """A ConvLSTMCell whose rank is fixed by the class (1D, 2D, 3D)."""

    def __init__(self, filters: int, kernel_size: Any, **kwargs: Any) -> None:
        kwargs.pop("rank", None)
        super().__init__(self.fixed_rank, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM1DCell(_FixedRankCell):
    """Cell of ConvLSTM1D (Keras 3)."""

    fixed_rank = 1


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM2DCell(_FixedRankCell):
    """Cell of ConvLSTM2D (Keras 3)."""

    fixed_rank = 2


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM3DCell(_FixedRankCell):
    """Cell of ConvLSTM3D (Keras 3)."""

    fixed_rank = 3


class ConvLSTM(ConvLSTMLayerMixin, CellLayer):
    """An RNN over a ConvLSTM cell of ``cell_class`` (Keras 3): arguments as
    ``tfrnn.ConvLSTM2D`` & co plus ``seed``; inputs ``(batch, time, *spatial,
    channels)`` (channels_first: channels before the spatial axes)."""

    cell_class: ClassVar[type[ConvLSTMCell]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.input_spec = keras.InputSpec(ndim=self.cell.rank + 3)

    def compute_output_shape(self, sequences_shape):
        return as_tuples(super().compute_output_shape(sequences_shape))


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM1D(ConvLSTM):
    """1D convolutional LSTM (Keras 3): inputs ``(batch, time, steps, channels)``."""

    cell_class = ConvLSTM1DCell


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM2D(ConvLSTM):
    """2D convolutional LSTM (Keras 3): inputs ``(batch, time, rows, cols, channels)``."""

    cell_class = ConvLSTM2DCell


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM3D(ConvLSTM):
    """3D convolutional LSTM (Keras 3): inputs ``(batch, time, d1, d2, d3, channels)``."""

    cell_class = ConvLSTM3DCell
