"""Choosing cuDNN for LSTM and GRU: the config check, the ``use_cudnn``
argument and the run-time choice by device."""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf
from tensorflow.python.ops import cond_v2, control_flow_util
from tf_keras import activations

from tfrnn.cells.base import dropout_masks
from tfrnn.engine import cudnn
from tfrnn.engine.scan import ScanResult

USE_CUDNN_VALUES = ("auto", True, False)


def check_use_cudnn(layer_name: str, use_cudnn: Any) -> str | bool:
    if isinstance(use_cudnn, str) and use_cudnn.lower() == "auto":
        return "auto"
    if use_cudnn is True or use_cudnn is False:
        return use_cudnn
    raise ValueError(
        f"Layer '{layer_name}': `use_cudnn` must be 'auto', True or False, got {use_cudnn!r}."
    )


def _is(fn: Any, *candidates: Any) -> bool:
    return any(fn is c for c in candidates)


class CudnnSelection:
    """Mixin for the LSTM and GRU layers (CellLayer subclasses).

    With ``use_cudnn`` 'auto' or True and a qualifying config, the layer's
    sequence computation picks, at run time, CudnnRNNV3 when the op runs on
    a GPU (and the mask, if any, is right-padded with no empty row) and the
    engine otherwise. The choice is a graph op (``DeviceIndex`` choosing a
    ``Case`` branch), so a SavedModel exported on a CPU uses cuDNN when served on
    a GPU. Under XLA the engine runs.
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
        if not _is(cell.activation, activations.tanh, tf.tanh, tf.math.tanh):
            return "activation must be 'tanh'"
        if not _is(cell.recurrent_activation, activations.sigmoid, tf.sigmoid, tf.math.sigmoid):
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

    def _cudnn_params(self) -> tf.Tensor:
        cell = self.cell
        pack = cudnn.lstm_params if self.cudnn_mode == cudnn.LSTM else cudnn.gru_params
        return pack(cell.kernel, cell.recurrent_kernel, cell.bias)

    def _run_sequence(self, inputs, mask, initial_state, training, constants):
        def engine():
            result = super(CudnnSelection, self)._run_sequence(
                inputs, mask, initial_state, training, constants
            )
            return _flatten(result)

        if (
            self.use_cudnn is False
            or constants
            or tf.nest.is_nested(inputs)
            or self.cudnn_blocker()
        ):
            return _pack(engine(), self.return_sequences, len(initial_state))

        def run_cudnn():
            x = inputs
            masks = dropout_masks(x[0], self.cell.dropout, 1, training)
            if masks is not None:
                x = x * masks[0]
            result = cudnn.cudnn_rnn(
                x,
                list(initial_state),
                self._cudnn_params(),
                mode=self.cudnn_mode,
                mask=mask,
                go_backwards=self.go_backwards,
                time_major=True,
                zero_output_for_mask=self.zero_output_for_mask,
            )
            outputs = [result.outputs] if self.return_sequences else []
            return [result.outputs[-1], *outputs, *result.states]

        use_cudnn = None
        if mask is not None:
            use_cudnn = cudnn.mask_supported(mask, time_major=True)
        flat = run_by_device(run_cudnn, engine, use_cudnn)
        return _pack(flat, self.return_sequences, len(initial_state))


def run_by_device(run_cudnn, engine, qualifies: tf.Tensor | None = None) -> list[tf.Tensor]:
    """``run_cudnn()`` when running on a GPU (and ``qualifies``), else ``engine()``.

    Both return flat lists of matching tensors. Eagerly without a GPU, or
    under XLA, only ``engine`` is traced.
    """
    if (
        tf.executing_eagerly() and not tf.config.list_logical_devices("GPU")
    ) or control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return engine()
    use_cudnn = running_on_gpu()
    if qualifies is not None:
        use_cudnn = tf.logical_and(use_cudnn, qualifies)
    # Not lowered to Switch/Merge: lowering inlines CudnnRNNV3 into the
    # graph, which then cannot be placed on a CPU-only machine.
    return cond_v2.indexed_case(
        tf.where(use_cudnn, 0, 1), [run_cudnn, engine], lower_using_switch_merge=False
    )


def running_on_gpu() -> tf.Tensor:
    """Boolean scalar, decided when the graph runs: this op is placed on a GPU.

    ``DeviceIndex`` reports the type of the device it runs on, so a graph
    traced (or a SavedModel exported) on a CPU machine answers True when run
    on a GPU. Grappler's implementation selector folds a ``DeviceIndex`` that
    feeds a ``Case`` directly, which crashes TF 2.21 once gradients exist
    (tf.__internal__.execute_fn_for_device); here it feeds a comparison and
    runs as a kernel.
    """
    return tf.equal(tf.raw_ops.DeviceIndex(device_names=["GPU"]), 0)


def _flatten(result: ScanResult) -> list[tf.Tensor]:
    outputs = [] if result.outputs is None else [result.outputs]
    return [result.last_output, *outputs, *tf.nest.flatten(result.states)]


def _pack(flat: list[tf.Tensor], return_sequences: bool, n_states: int) -> ScanResult:
    flat = list(flat)
    outputs = flat[1] if return_sequences else None
    return ScanResult(flat[0], outputs, flat[-n_states:])
