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

Where the batch is cut in pieces that run side by side (two cores or
more, ``tfrnn.engine.batch_pieces``: 8 rows or more, or a batch unknown
when traced):

- inference compiles while the recurrent kernel holds at most
  ``AUTO_PIECES_INFERENCE_MAX_KERNEL`` values (units x gates x units; up
  to 256 LSTM units, 295 GRU, 512 SimpleRNN);
- training compiles (through the hand-written gradient) while batch x
  units is at most ``AUTO_PIECES_TRAINING_MAX_ROWS_UNITS`` (a batch unknown
  when traced, as in ``fit``, counted as ``ASSUMED_BATCH`` rows): batch 32
  up to 256 units, batch 64 up to 128.

On one core, or a smaller batch:

- inference compiles while the recurrent kernel holds at most
  ``AUTO_INFERENCE_MAX_KERNEL`` values (up to 128 LSTM units, 147 GRU, 256
  SimpleRNN), or, larger, at batch sizes up to ``AUTO_SMALL_BATCH``: past
  that, XLA's single-threaded matmul lost to TensorFlow's;
- training compiles while batch x kernel values is at most
  ``AUTO_TRAINING_MAX_WORK``, the batch being known when traced; with the
  batch unknown, while the kernel holds at most
  ``AUTO_TRAINING_ANY_BATCH_KERNEL`` values (about 45 LSTM units, 52 GRU,
  90 SimpleRNN).

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
from tfrnn.engine import batch_pieces
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
#: with the batch in pieces side by side: inference up to this many
#: recurrent-kernel values (measured to 256 LSTM units, batch 32 and 64) ...
AUTO_PIECES_INFERENCE_MAX_KERNEL = 2**18
#: ... and training while batch x units is at most this (measured: LSTM
#: and GRU at batch 32 x 128-256 units and 64 x 128 compiled 1.1-1.6x
#: tf_keras's speed where plain gave 0.9-1.2; GRU and SimpleRNN at
#: 64 x 256 ran faster plain)
AUTO_PIECES_TRAINING_MAX_ROWS_UNITS = 8192
#: the rows a batch unknown when traced is counted as (Keras's default)
ASSUMED_BATCH = 32
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


def _largest_cell(cell: Any) -> tuple[int, int] | None:
    """The largest recurrent kernel (units x gates x units) and units of a
    SimpleRNN, GRU or LSTM cell or a stack of them; None for any other cell."""
    cells = cell.cells if isinstance(cell, CellStack) else [cell]
    if not all(isinstance(c, DenseCellMixin) for c in cells):
        return None
    return max(c.units * c.gates * c.units for c in cells), max(c.units for c in cells)


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
    largest = _largest_cell(layer.cell)
    if largest is None or layer.unroll or tf.distribute.has_strategy():
        return False
    if tf.config.list_logical_devices("GPU"):
        return False
    kernel, units = largest
    if batch_pieces.pieces_for(batch) > 1:
        if training is True:
            rows = ASSUMED_BATCH if batch is None else batch
            return rows * units <= AUTO_PIECES_TRAINING_MAX_ROWS_UNITS
        return kernel <= AUTO_PIECES_INFERENCE_MAX_KERNEL
    if training is True:
        if batch is None:
            return kernel <= AUTO_TRAINING_ANY_BATCH_KERNEL
        return batch * kernel <= AUTO_TRAINING_MAX_WORK
    return kernel <= AUTO_INFERENCE_MAX_KERNEL or (batch is not None and batch <= AUTO_SMALL_BATCH)
