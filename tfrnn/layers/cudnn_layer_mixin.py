"""What CuDNNLSTM and CuDNNGRU are in either Keras: weights in tf_keras's
cuDNN layout, CudnnRNNV3 on a GPU and, elsewhere, cuDNN's equations on the
engine (the cells' math: LSTM, GRU with the reset gate after the matmul),
chosen at run time as for LSTM/GRU.

Keras-free: mixed in before each Keras's RNN class; the Keras class adds its
constructor (``units``, the initializers, regularizers and constraints) and
config.
"""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf

from tfrnn.cell_math.activations import SIGMOID, TANH, Activation
from tfrnn.cell_math.gru import GRUMath
from tfrnn.cell_math.lstm import LSTMMath
from tfrnn.cell_math.steps import StepFunctions
from tfrnn.cells.dense_cells import add_recurrent_weights
from tfrnn.engine import cudnn
from tfrnn.engine.scan import ScanResult
from tfrnn.layers.cudnn_selection import eager_cudnn_device, select_by_device

#: cuDNN's activations, as the cells' math takes them
_TANH = Activation(tf.tanh, TANH)
_SIGMOID = Activation(tf.sigmoid, SIGMOID)


class StateSizes:
    """What the RNN base reads from a cell; CuDNN layers own their weights."""

    def __init__(self, units: int, n_states: int) -> None:
        self.state_size = [units] * n_states
        self.output_size = units

    def call(self, inputs, states):
        raise TypeError("CuDNN layers run whole sequences; they have no per-step cell.")


class CuDNNLayerMixin:
    """Weights, call and sequence computation of a CuDNN layer (``mode``
    ``cudnn.LSTM`` or ``cudnn.GRU``)."""

    mode: ClassVar[str]

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        super().build(input_shape)
        if isinstance(input_shape, list) and not isinstance(input_shape[0], (int, type(None))):
            input_shape = input_shape[0]
        input_dim = tf.TensorShape(input_shape)[-1]
        if input_dim is None:
            raise ValueError(
                f"Layer '{self.name}': the last (feature) axis of the input must be known, "
                f"got input shape {input_shape}."
            )
        width = cudnn.GATES[self.mode] * self.units
        add_recurrent_weights(
            self,
            kernel_shape=(input_dim, width),
            recurrent_shape=(self.units, width),
            bias_shape=(2 * width,),
            bias_initializer=self._bias_initializer(),
        )

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if mask is not None or isinstance(inputs, tf.RaggedTensor):
            package = (
                "tfrnn.keras3" if type(self).__module__.startswith("tfrnn.keras3") else "tfrnn"
            )
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) does not support masking or "
                f"ragged inputs (cuDNN layers never did). Use {package}."
                f"{type(self).__name__[5:]} instead: same math, masks supported, cuDNN "
                "picked automatically on a GPU."
            )
        return super().call(inputs, training=training, initial_state=initial_state)

    def _run_sequence(self, inputs, mask, initial_state, training, constants):
        weights = [
            tf.convert_to_tensor(w) for w in (self.kernel, self.recurrent_kernel, self.bias)
        ]

        def run_cudnn(inputs, states, kernel, recurrent_kernel, bias):
            params = cudnn.cudnn_layer_params(self.mode, kernel, recurrent_kernel, bias)
            result = cudnn.cudnn_rnn(
                inputs,
                states,
                params,
                mode=self.mode,
                go_backwards=self.go_backwards,
                time_major=True,
            )
            return [result.outputs[-1], result.outputs, *result.states]

        def engine(inputs, states, kernel, recurrent_kernel, bias):
            fns = self._engine_step_functions(kernel, recurrent_kernel, bias, inputs[0])
            result = fns.run(
                inputs,
                states,
                tf.zeros_like(states[0]),
                hand_gradient=False,
                go_backwards=self.go_backwards,
            )
            return [result.last_output, result.outputs, *result.states]

        args = {"inputs": inputs, "states": list(initial_state)}
        args.update(zip(("kernel", "recurrent_kernel", "bias"), weights))
        if tf.executing_eagerly():
            flat = (run_cudnn if eager_cudnn_device() else engine)(**args)
        else:
            flat = select_by_device(f"tfrnn_cudnn_{self.mode}", engine, run_cudnn, args)
        last_output, outputs, *new_states = flat
        return ScanResult(last_output, outputs if self.return_sequences else None, new_states)

    def _engine_step_functions(
        self, kernel, recurrent_kernel, bias, step_sample: tf.Tensor
    ) -> StepFunctions:
        """cuDNN's equations on the engine, from weights in this layer's layout:
        the LSTM cell's math on the summed biases, the GRU cell's (reset
        after) on the two bias sets."""
        kernel, recurrent_kernel, input_bias, recurrent_bias = cudnn.cudnn_layer_to_keras(
            self.mode, kernel, recurrent_kernel, bias
        )
        activations = {"activation": _TANH, "recurrent_activation": _SIGMOID}
        if self.mode == cudnn.LSTM:
            math = LSTMMath(self.units, **activations)
            weights = (kernel, recurrent_kernel, input_bias + recurrent_bias)
        else:
            math = GRUMath(self.units, **activations, reset_after=True)
            weights = (kernel, recurrent_kernel, tf.stack([input_bias, recurrent_bias]))
        return math.step_functions(weights, step_sample, training=None)


class CuDNNLSTMMixin(CuDNNLayerMixin):
    """CuDNNLSTM: the Keras class also sets ``unit_forget_bias``."""

    mode = cudnn.LSTM

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            """The bias initializer's values, ones for the forget gate's recurrent bias."""
            ahead = base((units * 5,), *args, **kwargs)
            ones = tf.ones_like(ahead[:units])
            return tf.concat([ahead, ones, base((units * 2,), *args, **kwargs)], axis=0)

        return forget_bias_one


class CuDNNGRUMixin(CuDNNLayerMixin):
    """CuDNNGRU."""

    mode = cudnn.GRU


def cudnn_state_sizes(mode: str, units: int) -> Any:
    """The stand-in cell a CuDNN layer of ``mode`` hands its RNN base."""
    return StateSizes(units, 2 if mode == cudnn.LSTM else 1)
