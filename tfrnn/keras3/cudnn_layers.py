"""CuDNNLSTM and CuDNNGRU for Keras 3 (which removed them): Keras 2's
always-cuDNN layers, which also run on a CPU, with tf_keras's cuDNN weight
layout (``CuDNNLayerMixin``, shared with ``tfrnn.CuDNNLSTM``); no masks."""

from __future__ import annotations

from typing import Any

import keras

from tfrnn.argument_checks import check_units
from tfrnn.keras3.cells import set_weight_settings, weight_settings_config
from tfrnn.keras3.rnn import RNN
from tfrnn.layers.cudnn_layer_mixin import CuDNNGRUMixin, CuDNNLSTMMixin, cudnn_state_sizes


class CuDNNRNN(RNN):
    """Shared arguments and config of the Keras 3 CuDNNLSTM / CuDNNGRU."""

    def __init__(
        self,
        units: int,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        time_major: bool = False,
        **kwargs: Any,
    ) -> None:
        units = check_units(kwargs.get("name", type(self).__name__), units)
        super().__init__(
            cudnn_state_sizes(self.mode, units),
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            time_major=time_major,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.units = units
        self.supports_masking = False
        self.input_spec = keras.InputSpec(ndim=3)
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

    def get_config(self):
        base = keras.Layer.get_config(self)  # RNN's would serialize the stand-in cell
        for key in ("return_sequences", "return_state", "go_backwards", "stateful", "time_major"):
            base[key] = getattr(self, key)
        return {
            **base,
            "units": self.units,
            **weight_settings_config(self),
            "activity_regularizer": keras.regularizers.serialize(self.activity_regularizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfrnn")
class CuDNNLSTM(CuDNNLSTMMixin, CuDNNRNN):
    """Fast LSTM backed by cuDNN (Keras 2's ``CuDNNLSTM``) for Keras 3, which
    also runs on a CPU. Arguments and weights as ``tfrnn.CuDNNLSTM``."""

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="tfrnn")
class CuDNNGRU(CuDNNGRUMixin, CuDNNRNN):
    """Fast GRU backed by cuDNN (Keras 2's ``CuDNNGRU``) for Keras 3, which
    also runs on a CPU. Arguments and weights as ``tfrnn.CuDNNGRU``."""
