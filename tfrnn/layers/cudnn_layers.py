"""CuDNNLSTM and CuDNNGRU: the Keras 2 always-cuDNN layers, which also run
on a CPU.

Weights are tf_keras's CuDNN layouts (each gate's cuDNN matrix stored as a
row-major block of ``kernel``/``recurrent_kernel``; ``bias`` holds the input
biases then the recurrent biases), so files written by tf_keras's
CuDNNLSTM/CuDNNGRU load. On a GPU the layers run CudnnRNNV3; elsewhere the
engine runs cuDNN's equations on the same weights (two bias sets, GRU reset
after), chosen at run time as for LSTM/GRU.
"""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf
import tf_keras
from tf_keras import constraints, initializers, regularizers
from tf_keras.layers import InputSpec

from tfrnn.cells.base import StepFunctions, check_units, project_dense
from tfrnn.engine import cudnn
from tfrnn.engine.scan import ScanResult
from tfrnn.layers.cudnn_selection import eager_cudnn_device, select_by_device
from tfrnn.layers.rnn import RNN


class _StateSizes:
    """What the RNN base reads from a cell; CuDNN layers own their weights."""

    def __init__(self, units: int, n_states: int) -> None:
        self.state_size = [units] * n_states
        self.output_size = units

    def call(self, inputs, states):
        raise TypeError("CuDNN layers run whole sequences; they have no per-step cell.")


class _CuDNNRNN(RNN):
    """Shared arguments, weights, config and call of CuDNNLSTM / CuDNNGRU."""

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
        n_states = 2 if self.mode == cudnn.LSTM else 1
        super().__init__(
            _StateSizes(units, n_states),
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
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = self.add_weight(
            shape=(2 * width,),
            name="bias",
            initializer=self._bias_initializer(),
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )
        self.built = True

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if mask is not None or isinstance(inputs, tf.RaggedTensor):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) does not support masking or "
                "ragged inputs (cuDNN layers never did). Use tfrnn."
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
            fns = self._engine_step_functions(kernel, recurrent_kernel, bias)
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

    def _engine_step_functions(self, kernel, recurrent_kernel, bias) -> StepFunctions:
        """cuDNN's equations on the engine, from weights in this layer's layout."""
        raise NotImplementedError

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
class CuDNNLSTM(_CuDNNRNN):
    """Fast LSTM backed by cuDNN (Keras 2's ``CuDNNLSTM``), which also runs on a CPU.

    Arguments as the Keras 2 spec: units, initializers, unit_forget_bias,
    regularizers, constraints, return_sequences, return_state, go_backwards,
    stateful (and time_major). Weights: kernel ``(in, 4u)``, recurrent
    kernel ``(u, 4u)``, bias ``(8u,)``, in tf_keras's CuDNNLSTM layout.
    Masks are rejected.
    """

    mode = cudnn.LSTM

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            return tf.concat(
                [
                    base((units * 5,), *args, **kwargs),
                    initializers.get("ones")((units,), *args, **kwargs),
                    base((units * 2,), *args, **kwargs),
                ],
                axis=0,
            )

        return forget_bias_one

    def _engine_step_functions(self, kernel, recurrent_kernel, bias) -> StepFunctions:
        kernel, recurrent_kernel, input_bias, recurrent_bias = cudnn.cudnn_layer_to_keras(
            self.mode, kernel, recurrent_kernel, bias
        )
        bias = input_bias + recurrent_bias

        def project(inputs):
            return project_dense(inputs, kernel, bias)

        def step(z_input, states):
            h, c = states
            z = z_input + tf.matmul(h, recurrent_kernel)
            i, f, g, o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            return h, [h, c]

        return StepFunctions(project, step)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class CuDNNGRU(_CuDNNRNN):
    """Fast GRU backed by cuDNN (Keras 2's ``CuDNNGRU``), which also runs on a CPU.

    Arguments as the Keras 2 spec: units, initializers, regularizers,
    constraints, return_sequences, return_state, go_backwards, stateful (and
    time_major). Weights: kernel ``(in, 3u)``, recurrent kernel ``(u, 3u)``,
    bias ``(6u,)``, in tf_keras's CuDNNGRU layout; the reset gate applies
    after the recurrent matmul. Masks are rejected.
    """

    mode = cudnn.GRU

    def _engine_step_functions(self, kernel, recurrent_kernel, bias) -> StepFunctions:
        kernel, recurrent_kernel, input_bias, recurrent_bias = cudnn.cudnn_layer_to_keras(
            self.mode, kernel, recurrent_kernel, bias
        )

        def project(inputs):
            return project_dense(inputs, kernel, input_bias)

        def step(x, states):
            h = states[0]
            inner = tf.nn.bias_add(tf.matmul(h, recurrent_kernel), recurrent_bias)
            x_z, x_r, x_h = tf.split(x, 3, axis=-1)
            r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
            z = tf.sigmoid(x_z + r_z)
            r = tf.sigmoid(x_r + r_r)
            h = z * h + (1.0 - z) * tf.tanh(x_h + r * r_h)
            return h, [h]

        return StepFunctions(project, step)
