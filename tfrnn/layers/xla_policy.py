"""When a recurrent layer runs its engine loop compiled with XLA.

``jit_compile`` (a layer argument): True compiles wherever XLA may wrap the
run (``tfrnn.engine.compiled.can_compile_here``), False never does, and
"auto" (the default) compiles where it was measured to be faster (a grid
of batch sizes and units, plain against compiled in one process; README,
"How it runs"): on a machine without a GPU, outside a distribution
strategy, not unrolled, for SimpleRNN, GRU and LSTM cells (and stacks of
them) whose step is small enough for XLA's fused kernels to beat
TensorFlow's per-op overhead. XLA compiles a step of one sequence in a few
tenths of a second, once per input shape, on the first call.

- Inference compiles while the recurrent kernel holds at most
  ``AUTO_INFERENCE_MAX_KERNEL`` values (units x gates x units; up to 128
  LSTM units, 147 GRU, 256 SimpleRNN), or, larger, at batch sizes up to
  ``AUTO_SMALL_BATCH``: past that, XLA's matmul lost to TensorFlow's.
- Training compiles (through the hand-written gradient) while batch x
  kernel values is at most ``AUTO_TRAINING_MAX_WORK``, the batch being
  known when traced; with the batch unknown (``fit``), while the kernel
  holds at most ``AUTO_TRAINING_ANY_BATCH_KERNEL`` values (about 45 LSTM
  units, 52 GRU, 90 SimpleRNN), measured faster up to batch 64.

ConvLSTM cells and custom cells run plain (XLA's convolutions measured
slower than TensorFlow's). The environment variable
``TFRNN_JIT_COMPILE=0`` (read at each call) turns "auto" off for the
whole process; layers given True or False keep their word.

A gradient taken through a compiled loop must come from the hand-written
backward pass (``tfrnn.engine.bptt``): TensorFlow cannot differentiate an
XLA-compiled ``while_loop`` from outside it. So while a gradient tape
records, only a training run of a cell with that backward pass compiles.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf
from tensorflow.python.eager import record

from tfrnn.cell_math.steps import CellStack, EngineCell
from tfrnn.cells.dense_cells import DenseCellMixin
from tfrnn.engine.compiled import can_compile_here

AUTO = "auto"
#: "auto": inference compiles up to this many recurrent-kernel values ...
AUTO_INFERENCE_MAX_KERNEL = 65536
#: ... or at batch sizes (known when traced) up to this
AUTO_SMALL_BATCH = 4
#: training compiles up to this batch x recurrent-kernel values ...
AUTO_TRAINING_MAX_WORK = 2**19
#: ... or, the batch unknown, up to this many recurrent-kernel values
AUTO_TRAINING_ANY_BATCH_KERNEL = 8192
#: the environment variable that turns "auto" off ("0", "false" or "off")
AUTO_SWITCH = "TFRNN_JIT_COMPILE"


def check_jit_compile(layer_name: str, value: Any) -> str | bool:
    """``value`` as "auto", True or False, or a ValueError naming the layer."""
    if isinstance(value, str) and value.lower() == AUTO:
        return AUTO
    if value is True or value is False:
        return value
    raise ValueError(
        f"Layer '{layer_name}': `jit_compile` must be 'auto', True or False, got {value!r}."
    )


def _kernel_values(cell: Any) -> int | None:
    """The largest recurrent kernel (units x gates x units) of a SimpleRNN,
    GRU or LSTM cell or a stack of them; None for any other cell."""
    cells = cell.cells if isinstance(cell, CellStack) else [cell]
    if not all(isinstance(c, DenseCellMixin) for c in cells):
        return None
    return max(c.units * c.gates * c.units for c in cells)


def _gradient_allowed(cell: Any, training: Any) -> bool:
    """No gradient can be taken here, or it would be the hand-written one."""
    if not record.could_possibly_record():
        return True
    return training is True and isinstance(cell, EngineCell) and cell.trains_by_hand_gradient()


def compiles(layer: Any, training: Any, batch: int | None) -> bool:
    """Whether ``layer`` runs this call's engine loop compiled with XLA."""
    if layer.jit_compile is False or not isinstance(training, (bool, type(None))):
        return False
    if not can_compile_here() or not _gradient_allowed(layer.cell, training):
        return False
    if layer.jit_compile is True:
        return True
    if os.environ.get(AUTO_SWITCH, AUTO).strip().lower() in ("0", "false", "off"):
        return False
    kernel = _kernel_values(layer.cell)
    if kernel is None or layer.unroll or tf.distribute.has_strategy():
        return False
    if tf.config.list_logical_devices("GPU"):
        return False
    if training is True:
        if batch is None:
            return kernel <= AUTO_TRAINING_ANY_BATCH_KERNEL
        return batch * kernel <= AUTO_TRAINING_MAX_WORK
    return kernel <= AUTO_INFERENCE_MAX_KERNEL or (batch is not None and batch <= AUTO_SMALL_BATCH)
