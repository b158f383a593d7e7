"""ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: convolutional LSTM layers on the engine."""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf
import tf_keras
from tf_keras import regularizers

from tfrnn.cells.conv_lstm import (
    ConvLSTM1DCell,
    ConvLSTM2DCell,
    ConvLSTM3DCell,
    ConvLSTMCell,
)
from tfrnn.engine.scan import scan
from tfrnn.layers.legacy_args import translate_legacy_kwargs
from tfrnn.layers.rnn import RNN

_CELL_ARGS = (
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
)
_RNN_ARGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "time_major",
)
_BASE_LAYER_KEYS = ("name", "trainable", "dtype")


class ConvLSTM(RNN):
    """An RNN over a ConvLSTM cell of ``cell_class``, built from flat arguments.

    Arguments, defaults, config and weights as tf_keras's ``ConvLSTM1D/2D/3D``:
    ``filters, kernel_size, strides, padding, data_format, dilation_rate,
    activation, recurrent_activation ('hard_sigmoid'), use_bias,
    kernel/recurrent/bias initializers, unit_forget_bias, kernel/recurrent/
    bias regularizers, activity_regularizer, kernel/recurrent/bias
    constraints, return_sequences, return_state, go_backwards, stateful,
    dropout, recurrent_dropout``. Inputs are ``(batch, time, *spatial,
    channels)`` (channels_first: ``(batch, time, channels, *spatial)``).
    """

    cell_class: ClassVar[type[ConvLSTMCell]]

    def __init__(self, filters: int | None = None, kernel_size: Any = None, **kwargs: Any):
        kwargs = translate_legacy_kwargs(type(self).__name__, kwargs)
        filters = kwargs.pop("filters", None) if filters is None else filters
        kernel_size = kwargs.pop("kernel_size", None) if kernel_size is None else kernel_size
        if filters is None or kernel_size is None:
            raise TypeError(
                f"{type(self).__name__} needs `filters` and `kernel_size`, got "
                f"filters={filters!r}, kernel_size={kernel_size!r}."
            )
        kwargs.pop("rank", None)
        cell_kwargs = {k: kwargs.pop(k) for k in _CELL_ARGS if k in kwargs}
        rnn_kwargs = {k: kwargs.pop(k) for k in _RNN_ARGS if k in kwargs}
        try:
            cell = self.cell_class(
                filters,
                kernel_size,
                name="conv_lstm_cell",
                dtype=kwargs.get("dtype"),
                trainable=kwargs.get("trainable", True),
                **cell_kwargs,
            )
        except (ValueError, TypeError) as err:
            owner = kwargs.get("name") or type(self).__name__
            raise type(err)(f"{type(self).__name__} layer '{owner}': {err}") from None
        super().__init__(cell, **rnn_kwargs, **kwargs)
        self.rank = cell.rank
        self.input_spec = tf_keras.layers.InputSpec(ndim=self.rank + 3)

    # ----------------------------------------------------------------- shapes
    def _sequence_shape(self, input_shape) -> list:
        """``input_shape`` as a batch-major list (first input of a list)."""
        if isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], int):
            input_shape = input_shape[0]
        shape = tf.TensorShape(input_shape).as_list()
        if self.time_major and len(shape) >= 2:
            shape[0], shape[1] = shape[1], shape[0]
        return shape

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        geometry = self.cell.geometry
        geometry.check_input_shape(self.name, shape, with_time=True)
        if self.stateful and None in geometry.split(shape[1:])[0]:
            raise ValueError(
                f"Layer '{self.name}' is stateful, so its spatial input dimensions must "
                f"be known; got input shape {tuple(shape)}."
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        geometry = self.cell.geometry
        spatial, _ = geometry.split(shape[1:])
        step = [shape[0], *geometry.arrange(geometry.output_spatial(spatial), self.cell.filters)]
        if self.return_sequences:
            lead = [shape[1], shape[0]] if self.time_major else [shape[0], shape[1]]
            output = tf.TensorShape(lead + step[1:])
        else:
            output = tf.TensorShape(step)
        if self.return_state:
            return [output, tf.TensorShape(step), tf.TensorShape(step)]
        return output

    def get_initial_state(self, inputs):
        """Zero states shaped from ``inputs`` (spatial sizes may be dynamic)."""
        first = tf.nest.flatten(inputs)[0]
        step_sample = first[0] if self.time_major else first[:, 0]
        return self.cell.get_initial_state(inputs=step_sample)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        return super().call(inputs, mask=mask, training=training, initial_state=initial_state)

    def _run_sequence(self, inputs, mask, initial_state, training, constants):
        """As RNN's, but the zero output before the first step is shaped like
        ``h``, so spatial sizes known only at run time work."""
        fns = self.cell.step_functions(inputs[0], training)
        h0 = tf.nest.flatten(initial_state)[0]
        return scan(
            fns.step,
            fns.project(inputs),
            initial_state,
            tf.zeros_like(h0),
            mask=mask,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            time_major=True,
            return_all_outputs=self.return_sequences,
        )

    # ----------------------------------------------------------------- config
    def get_config(self):
        cell_config = self.cell.get_config()
        for key in _BASE_LAYER_KEYS:
            cell_config.pop(key, None)
        config = super().get_config()
        del config["cell"]
        config.update(cell_config)
        config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


for _name in ("filters", "kernel_size", *_CELL_ARGS):
    setattr(ConvLSTM, _name, property(lambda self, n=_name: getattr(self.cell, n)))


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM1D(ConvLSTM):
    """1D convolutional LSTM: inputs ``(batch, time, steps, channels)``."""

    cell_class = ConvLSTM1DCell


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM2D(ConvLSTM):
    """2D convolutional LSTM: inputs ``(batch, time, rows, cols, channels)``."""

    cell_class = ConvLSTM2DCell


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTM3D(ConvLSTM):
    """3D convolutional LSTM: inputs ``(batch, time, d1, d2, d3, channels)``."""

    cell_class = ConvLSTM3DCell
