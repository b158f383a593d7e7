"""Choosing cuDNN for LSTM and GRU: the config check, the ``use_cudnn``
argument and the run-time choice by device.

The choice is tf_keras's own mechanism: two ``tf.function``s with the same
unique ``api_implements`` attribute, one with ``api_preferred_device``
"CPU" (the engine) and one with "GPU" (CudnnRNNV3, falling back to the
engine for a mask cuDNN cannot take). The layer calls the CPU function and
only registers the GPU one in the graph; when the graph runs, grappler's
implementation selector swaps in the GPU function wherever the call is
placed on a GPU. So a SavedModel exported on a CPU machine carries both and
picks cuDNN when served on a GPU, and one saved on a GPU runs on a CPU.
Eagerly, the device is checked directly (as tf_keras does). Traced where
no GPU could run the graph (``gpu_alternative_wanted``), a GRU calls the
engine without the swappable function; an LSTM keeps it, because TFLite's
converter fuses it. A Bidirectional's halves run as one bidirectional
cuDNN call only where a GPU may run them live: not on a GPU-less machine
and not in a SavedModel, where each half keeps its own function.

The CPU function of an LSTM follows tf_keras's ``standard_lstm`` contract
(tensor arguments ``inputs, init_h, init_c, kernel, recurrent_kernel,
bias[, mask]``, results ``last_output, outputs, new_h, new_c, runtime``,
attributes ``time_major`` and ``go_backwards``; inputs are time-major),
which is what TFLite's converter fuses into UNIDIRECTIONAL_SEQUENCE_LSTM.
The GRU's follows ``standard_gru`` (no ``init_c``/``new_c``).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import tensorflow as tf
from tensorflow.python.eager import context as eager_context
from tensorflow.python.saved_model import save_context

from tfrnn.cell_math.activations import SIGMOID, TANH
from tfrnn.cell_math.dense import dropout_masks
from tfrnn.engine import cudnn
from tfrnn.engine.compiled import CompiledRun, in_xla_context, run_sequence
from tfrnn.engine.scan import ScanResult
from tfrnn.layers import xla_policy

#: the ``runtime`` result of the function contract: which implementation ran
RUNTIME_CPU = 1.0
RUNTIME_GPU = 2.0


def check_use_cudnn(layer_name: str, use_cudnn: Any) -> str | bool:
    if isinstance(use_cudnn, str) and use_cudnn.lower() == "auto":
        return "auto"
    if use_cudnn is True or use_cudnn is False:
        return use_cudnn
    raise ValueError(
        f"Layer '{layer_name}': `use_cudnn` must be 'auto', True or False, got {use_cudnn!r}."
    )


# ------------------------------------------------------------ device choice
def eager_cudnn_device() -> bool:
    """Eagerly: a GPU exists and the device scope is a GPU or unset (tf_keras's rule)."""
    if not tf.config.list_logical_devices("GPU"):
        return False
    scope = eager_context.get_device_name()  # what tf_keras's LSTM/GRU read too
    return scope is None or tf.DeviceSpec.from_string(scope).device_type == "GPU"


def select_by_device(
    api_name: str,
    cpu_impl: Callable[..., Any],
    gpu_impl: Callable[..., Any],
    kwargs: dict[str, Any],
    attributes: dict[str, Any] | None = None,
) -> Any:
    """Call ``cpu_impl(**kwargs)`` as a function grappler may swap for ``gpu_impl``.

    Both become ``tf.function``s with ``api_implements=<api_name>_<uuid>``
    and ``api_preferred_device`` CPU / GPU; the GPU one (and its gradient
    functions) is added to the graph without being called, where
    ``gpu_alternative_wanted``. Both must take and return the same tensors.
    Graph mode only.
    """
    common = {"api_implements": f"{api_name}_{uuid.uuid4()}", **(attributes or {})}

    def function(impl, device):
        return tf.function(
            impl,
            autograph=False,
            experimental_attributes={**common, "api_preferred_device": device},
        )

    outputs = function(cpu_impl, "CPU")(**kwargs)
    if gpu_alternative_wanted():
        registered = function(gpu_impl, "GPU").get_concrete_function(**kwargs)
        registered.add_to_graph()
        registered.add_gradient_functions_to_graph()
    return outputs


def gpu_alternative_wanted() -> bool:
    """Whether a graph being traced gets the cuDNN function beside the engine's:
    where it may run on a GPU, that is a GPU is visible, the trace is placed
    on one, or the graph is being saved (a SavedModel may be served on a GPU
    elsewhere). On a machine without a GPU it could never be chosen, and
    tracing it and its gradient functions is most of a model's first call."""
    if tf.config.list_logical_devices("GPU") or save_context.in_save_context():
        return True
    probe = tf.no_op(name="device_probe")  # carries the graph's device scope; pruned
    # a function traced inside ``tf.device`` sees it as the eager context's device
    scopes = (probe.device, eager_context.get_device_name())
    return any(tf.DeviceSpec.from_string(s or "").device_type == "GPU" for s in scopes)


# ------------------------------------------------------------ the two bodies
@contextlib.contextmanager
def _reading_weights(cell, weights: Sequence[tf.Tensor]) -> Iterator[None]:
    """Within this context ``cell.weight_tensors()`` returns ``weights``, so the
    cell's step functions read function arguments instead of capturing its
    variables."""
    object.__setattr__(cell, "weight_tensors", lambda: tuple(weights))
    try:
        yield
    finally:
        object.__delattr__(cell, "weight_tensors")


def engine_sequence(
    cell,
    inputs: tf.Tensor,
    states: list[tf.Tensor],
    weights: Sequence[tf.Tensor],
    mask: tf.Tensor | None,
    *,
    go_backwards: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
    hand_gradient: bool = False,
    compile_loop: bool = False,
    compact: bool = False,
) -> ScanResult:
    """The engine on time-major ``inputs`` with ``cell``'s equations and ``weights``
    (kernel, recurrent kernel, bias); no dropout. ``hand_gradient``: use the
    engine's hand-written gradient (``tfrnn.engine.bptt``) where the cell has
    one; ``compile_loop``: run it compiled with XLA (``tfrnn.engine.compiled``);
    ``compact``: one timestep per loop iteration, the smallest graph (for a
    rarely taken fallback)."""

    def run(inputs, states, mask, weights, active_range):
        with _reading_weights(cell, weights):
            fns = cell.step_functions(inputs[0], training=False)
        return fns.run(
            inputs,
            states,
            tf.zeros_like(states[0]),
            hand_gradient=hand_gradient,
            mask=mask,
            go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask,
            return_all_outputs=return_sequences,
            active_range=active_range,
            **({"steps_per_iteration": 1} if compact else {}),
        )

    compiled = CompiledRun(run) if compile_loop else None
    return run_sequence(
        run,
        inputs,
        states,
        mask,
        tuple(weights),
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
        compiled=compiled,
    )


def cudnn_sequence(
    mode: str,
    inputs: tf.Tensor,
    states: list[tf.Tensor],
    params: tf.Tensor,
    mask: tf.Tensor | None,
    *,
    go_backwards: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> ScanResult:
    """CudnnRNNV3 on time-major ``inputs``, with the engine's results."""
    result = cudnn.cudnn_rnn(
        inputs,
        states,
        params,
        mode=mode,
        mask=mask,
        go_backwards=go_backwards,
        time_major=True,
        zero_output_for_mask=zero_output_for_mask,
    )
    outputs = result.outputs if return_sequences else None
    return ScanResult(result.outputs[-1], outputs, result.states)


def _contract(result: ScanResult, runtime: float) -> tuple[tf.Tensor, ...]:
    """``last_output, outputs, *states, runtime``; without all outputs,
    ``outputs`` is the last one with a time axis of 1 (as tf_keras)."""
    outputs = result.outputs
    if outputs is None:
        outputs = tf.expand_dims(result.last_output, 0)
    return (result.last_output, outputs, *result.states, tf.constant(runtime))


def _from_contract(flat: Sequence[tf.Tensor], return_sequences: bool) -> ScanResult:
    last_output, outputs, *states, _ = flat
    return ScanResult(last_output, outputs if return_sequences else None, list(states))


def _standard_signature(mode: str, run: Callable[..., ScanResult], runtime: float):
    """``run(inputs, states, weights, mask) -> ScanResult`` as a function with
    the arguments and results of tf_keras's ``standard_lstm`` / ``standard_gru``."""
    if mode == cudnn.LSTM:

        def standard_lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias, mask=None):
            result = run(inputs, [init_h, init_c], (kernel, recurrent_kernel, bias), mask)
            return _contract(result, runtime)

        return standard_lstm

    def standard_gru(inputs, init_h, kernel, recurrent_kernel, bias, mask=None):
        return _contract(run(inputs, [init_h], (kernel, recurrent_kernel, bias), mask), runtime)

    return standard_gru


def _signature_kwargs(mode, inputs, states, weights, mask) -> dict[str, Any]:
    names = ["init_h", "init_c"] if mode == cudnn.LSTM else ["init_h"]
    kernel, recurrent_kernel, bias = weights
    return {
        "inputs": inputs,
        **dict(zip(names, states)),
        "kernel": kernel,
        "recurrent_kernel": recurrent_kernel,
        "bias": bias,
        "mask": mask,
    }


class CudnnSelection:
    """Mixin for the LSTM and GRU layers (CellLayer subclasses).

    With ``use_cudnn`` 'auto' or True and a qualifying config, the layer's
    sequence computation runs CudnnRNNV3 when it is placed on a GPU (and
    the mask, if any, is right-padded with no empty row) and the engine
    otherwise; see the module docstring for how.
    """

    cudnn_mode: ClassVar[str]

    def _setup_cudnn(self, use_cudnn: Any) -> None:
        self.use_cudnn = check_use_cudnn(self.name, use_cudnn)
        if self.use_cudnn is True:
            reason = self.cudnn_blocker()
            if reason:
                raise ValueError(
                    f"Layer '{self.name}': use_cudnn=True but this configuration cannot "
                    f"run on cuDNN: {reason}. Change that setting, or pass "
                    "use_cudnn='auto' to fall back to the generic kernel."
                )

    def cudnn_blocker(self) -> str | None:
        """Why this config cannot run on cuDNN, or None when it can."""
        cell = self.cell
        math = cell.cell_math()
        if math.activation.kind != TANH:
            return "activation must be 'tanh'"
        if math.recurrent_activation.kind != SIGMOID:
            return "recurrent_activation must be 'sigmoid'"
        if not cell.use_bias:
            return "use_bias must be True"
        if cell.recurrent_dropout > 0:
            return "recurrent_dropout must be 0"
        if self.unroll:
            return "unroll must be False"
        if self.cudnn_mode == cudnn.GRU and not cell.reset_after:
            return "reset_after must be True"
        return None

    def cudnn_eligible(self) -> bool:
        """use_cudnn allows cuDNN and the configuration qualifies. 'auto' runs
        the engine alone in a TF1 graph (eager execution disabled), as tf_keras's
        LSTM/GRU do: training through the selection functions there fails
        when control flow outputs its intermediates (TF1 while_v2 training)."""
        if self.use_cudnn == "auto" and not tf.compat.v1.executing_eagerly_outside_functions():
            return False
        return self.use_cudnn is not False and self.cudnn_blocker() is None

    def cudnn_params(self, weights: Sequence[tf.Tensor]) -> tf.Tensor:
        """CudnnRNNV3's params buffer from (kernel, recurrent kernel, bias)."""
        pack = cudnn.lstm_params if self.cudnn_mode == cudnn.LSTM else cudnn.gru_params
        return pack(*weights)

    def sequence_options(self) -> dict[str, bool]:
        return {
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
            "return_sequences": self.return_sequences,
        }

    def _run_sequence(self, inputs, mask, initial_state, training, constants):
        engine_only = (
            not self.cudnn_eligible()
            or constants
            or tf.nest.is_nested(inputs)
            or (tf.executing_eagerly() and not eager_cudnn_device())
            or in_xla_context()  # CudnnRNNV3 has no XLA kernel
        )
        if engine_only:
            return super()._run_sequence(inputs, mask, initial_state, training, constants)
        # As tf_keras: one input dropout mask for all gates, drawn outside
        # the swappable functions.
        masks = dropout_masks(inputs[0], self.cell.dropout, 1, training)
        if masks is not None:
            inputs = inputs * masks[0]
        states = list(initial_state)
        weights = self.cell.weight_tensors()
        options = self.sequence_options()
        if tf.executing_eagerly():
            return self._cudnn_with_fallback(inputs, states, weights, mask, **options)
        compile_loop = xla_policy.compiles(self, training, inputs.shape[1])
        if self.cudnn_mode != cudnn.LSTM and not gpu_alternative_wanted():
            # No GPU to swap cuDNN in: the engine without the swappable
            # function around it (a function call each run, about 0.1 ms).
            # An LSTM keeps it anyway: TFLite's converter fuses that function
            # however the graph reaches it (from_concrete_functions too).
            return self._engine(
                inputs,
                states,
                weights,
                mask,
                hand_gradient=training is True,
                compile_loop=compile_loop,
                **options,
            )
        flat = select_by_device(
            self.cudnn_mode,
            _standard_signature(
                self.cudnn_mode,
                functools.partial(
                    self._engine,
                    hand_gradient=training is True,
                    compile_loop=compile_loop,
                    **options,
                ),
                RUNTIME_CPU,
            ),
            _standard_signature(
                self.cudnn_mode,
                functools.partial(self._cudnn_with_fallback, **options),
                RUNTIME_GPU,
            ),
            _signature_kwargs(self.cudnn_mode, inputs, states, weights, mask),
            {"time_major": True, "go_backwards": self.go_backwards},
        )
        return _from_contract(flat, self.return_sequences)

    def _engine(self, inputs, states, weights, mask, **options) -> ScanResult:
        return engine_sequence(self.cell, inputs, states, weights, mask, **options)

    def _cudnn_with_fallback(self, inputs, states, weights, mask, **options) -> ScanResult:
        """cuDNN, or the engine when ``mask`` is not right-padded (or has an empty row)."""
        run_cudnn = functools.partial(
            cudnn_sequence, self.cudnn_mode, inputs, states, self.cudnn_params(weights), mask
        )
        if mask is None:
            return run_cudnn(**options)
        return tf.cond(
            cudnn.mask_supported(mask, time_major=True),
            lambda: run_cudnn(**options),
            lambda: self._engine(inputs, states, weights, mask, **options, compact=True),
        )


# ------------------------------------------------------------ Bidirectional
def _fusable_halves(forward, backward, inputs, training, constants) -> bool:
    """Both halves of a Bidirectional can run as one bidirectional cuDNN call."""
    halves = (forward, backward)
    return (
        isinstance(forward, CudnnSelection)
        and type(backward) is type(forward)
        and all(layer.cudnn_eligible() for layer in halves)
        and not forward.go_backwards
        and backward.go_backwards
        and forward.time_major == backward.time_major
        and forward.cell.units == backward.cell.units
        and not any(layer.stateful or layer.activity_regularizer for layer in halves)
        and constants is None
        and isinstance(inputs, tf.Tensor)
        and all(dropout_masks(inputs, layer.cell.dropout, 1, training) is None for layer in halves)
        and (eager_cudnn_device() if tf.executing_eagerly() else gpu_alternative_wanted())
        and not in_xla_context()  # CudnnRNNV3 has no XLA kernel
        # A SavedModel keeps each half's own function, as tf_keras's does:
        # TFLite's converter fuses each LSTM half (and a GPU serving it runs
        # one cuDNN call per half).
        and not save_context.in_save_context()
    )


def _layer_output(layer, result: ScanResult):
    """What ``layer(...)`` returns for ``result`` (time-major)."""
    output = result.last_output
    if layer.return_sequences:
        output = result.outputs if layer.time_major else _swap_batch_time(result.outputs)
    return [output, *result.states] if layer.return_state else output


def _swap_batch_time(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [1, 0, 2])


def bidirectional_halves(forward, backward, inputs, mask, training, initial_state, constants):
    """``(forward(inputs), backward(inputs))`` of a tfrnn.Bidirectional from one
    bidirectional CudnnRNNV3 call on a GPU (the engine elsewhere, chosen at run
    time as for one layer), or None when the halves do not qualify (the
    caller then calls them one by one).

    ``initial_state``: None or the forward states then the backward states.
    """
    if not _fusable_halves(forward, backward, inputs, training, constants):
        return None
    dtype = inputs.dtype
    if mask is not None:
        mask = forward._validated_mask(tf.nest.flatten(mask)[0], inputs)
    if initial_state is None:
        states = forward.get_initial_state(inputs) + backward.get_initial_state(inputs)
    else:
        half = len(initial_state) // 2
        states = forward._validated_initial_state(
            initial_state[:half], inputs.shape[1 if forward.time_major else 0]
        ) + backward._validated_initial_state(
            initial_state[half:], inputs.shape[1 if forward.time_major else 0]
        )
    states = [tf.cast(s, dtype) for s in states]
    if not forward.time_major:
        inputs = _swap_batch_time(inputs)
        mask = None if mask is None else tf.transpose(mask)
    n_states = len(states) // 2
    options = (forward.sequence_options(), backward.sequence_options())

    def engine(
        inputs,
        forward_states,
        backward_states,
        forward_weights,
        backward_weights,
        mask,
        hand_gradient=False,
        compact=False,
    ):
        compile_loop = xla_policy.compiles(forward, training, inputs.shape[1])
        results = (
            forward._engine(
                inputs,
                forward_states,
                forward_weights,
                mask,
                **options[0],
                hand_gradient=hand_gradient,
                compile_loop=compile_loop,
                compact=compact,
            ),
            backward._engine(
                inputs,
                backward_states,
                backward_weights,
                mask,
                **options[1],
                hand_gradient=hand_gradient,
                compile_loop=compile_loop,
                compact=compact,
            ),
        )
        return tuple(t for r in results for t in _contract(r, RUNTIME_CPU))

    def run_cudnn(
        inputs, forward_states, backward_states, forward_weights, backward_weights, mask
    ):
        forward_result, backward_result = cudnn.cudnn_bidirectional(
            inputs,
            forward_states,
            backward_states,
            forward.cudnn_params(forward_weights),
            backward.cudnn_params(backward_weights),
            mode=forward.cudnn_mode,
            mask=mask,
            time_major=True,
            zero_output_for_mask=forward.zero_output_for_mask,
        )
        # the backward layer returns its outputs in processing order
        backward_outputs = tf.reverse(backward_result.outputs, [0])
        results = (
            ScanResult(forward_result.outputs[-1], forward_result.outputs, forward_result.states),
            ScanResult(backward_outputs[-1], backward_outputs, backward_result.states),
        )
        return tuple(
            t
            for r, o in zip(results, options)
            for t in _contract(
                r if o["return_sequences"] else r._replace(outputs=None), RUNTIME_GPU
            )
        )

    def cudnn_with_fallback(
        inputs, forward_states, backward_states, forward_weights, backward_weights, mask
    ):
        args = (inputs, forward_states, backward_states, forward_weights, backward_weights, mask)
        if mask is None:
            return run_cudnn(*args)
        return tf.cond(
            cudnn.mask_supported(mask, time_major=True),
            lambda: run_cudnn(*args),
            lambda: engine(*args, compact=True),
        )

    kwargs = {
        "inputs": inputs,
        "forward_states": states[:n_states],
        "backward_states": states[n_states:],
        "forward_weights": forward.cell.weight_tensors(),
        "backward_weights": backward.cell.weight_tensors(),
        "mask": mask,
    }
    if tf.executing_eagerly():
        flat = cudnn_with_fallback(**kwargs)
    else:
        flat = select_by_device(
            f"tfrnn_bidirectional_{forward.cudnn_mode}",
            functools.partial(engine, hand_gradient=training is True),
            cudnn_with_fallback,
            kwargs,
        )
    size = len(flat) // 2
    return tuple(
        _layer_output(layer, _from_contract(part, layer.return_sequences))
        for layer, part in ((forward, flat[:size]), (backward, flat[size:]))
    )
