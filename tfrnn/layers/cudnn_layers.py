"""CuDNNLSTM and CuDNNGRU: the Keras 2 always-cuDNN layers, which also run
on a CPU.

Weights are tf_keras's CuDNN layouts (each gate's cuDNN matrix stored as a
row-major block of ``kernel``/``recurrent_kernel``; ``bias`` holds the input
biases then the recurrent biases), so files written by tf_keras's
CuDNNLSTM/CuDNNGRU load. On a GPU the layers run CudnnRNNV3; elsewhere the
engine runs cuDNN's equations on the same weights (two bias sets, GRU reset
after), chosen at run time as for LSTM/GRU (``CuDNNLayerMixin``, shared with
``tfrnn.keras3``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import tf_keras
from tf_keras import constraints, initializers, regularizers
from tf_keras.layers import InputSpec

from tfrnn.argument_checks import check_units
from tfrnn.layers.cudnn_layer_mixin import CuDNNGRUMixin, CuDNNLSTMMixin, cudnn_state_sizes
from tfrnn.layers.rnn import RNN


class _CuDNNRNN(RNN):
    """Shared arguments and config of the tf_keras CuDNNLSTM / CuDNNGRU; their
    weights, call and sequence computation are ``CuDNNLayerMixin``'s."""

    mode: ClassVar[str]

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
        name = kwargs.get("name", type(self).__name__)
        units = check_units(name, units)
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
        self.input_spec = InputSpec(ndim=3)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def get_config(self):
        config = {
            "units": self.units,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
        base = tf_keras.layers.Layer.get_config(self)  # RNN's would serialize a cell
        for key in ("return_sequences", "return_state", "go_backwards", "stateful", "time_major"):
            base[key] = getattr(self, key)
        return {**base, **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.pop("unroll", None)
        return cls(**config)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class CuDNNLSTM(CuDNNLSTMMixin, _CuDNNRNN):
    """Fast LSTM backed by cuDNN (Keras 2's ``CuDNNLSTM``), which also runs on a CPU.

    Arguments as the Keras 2 spec: units, initializers, unit_forget_bias,
    regularizers, constraints, return_sequences, return_state, go_backwards,
    stateful (and time_major). Weights: kernel ``(in, 4u)``, recurrent
    kernel ``(u, 4u)``, bias ``(8u,)``, in tf_keras's CuDNNLSTM layout.
    Masks are rejected.
    """

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class CuDNNGRU(CuDNNGRUMixin, _CuDNNRNN):
    """Fast GRU backed by cuDNN (Keras 2's ``CuDNNGRU``), which also runs on a CPU.

    Arguments as the Keras 2 spec: units, initializers, regularizers,
    constraints, return_sequences, return_state, go_backwards, stateful (and
    time_major). Weights: kernel ``(in, 3u)``, recurrent kernel ``(u, 3u)``,
    bias ``(6u,)``, in tf_keras's CuDNNGRU layout; the reset gate applies
    after the recurrent matmul. Masks are rejected.
    """
