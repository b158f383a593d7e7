"""When a recurrent layer runs its engine loop compiled with XLA.

``jit_compile`` (a layer argument): True compiles wherever XLA may wrap the
run (``tfrnn.engine.compiled.can_compile_here``), False never does, and
"auto" (the default) compiles where it was measured to be faster
(scripts/bench.py; README, "How it runs"): on a machine without a GPU, for
tfrnn's own cells, outside a distribution strategy, not unrolled, for
inference at any batch size and for training at small batch sizes.

The environment variable ``TFRNN_JIT_COMPILE=0`` (read at each call) turns
"auto" off for the whole process; layers given True or False keep their word.

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

from tfrnn.cells.base import RecurrentCell
from tfrnn.cells.stacked import StackedRNNCells
from tfrnn.engine.compiled import can_compile_here

AUTO = "auto"
#: "auto" compiles a training run when the batch (statically known) is at
#: most this: measured faster there, slower at batch 32 (scripts/bench.py)
AUTO_TRAINING_MAX_BATCH = 8
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


def _own_cells(cell: Any) -> bool:
    cells = cell.cells if isinstance(cell, StackedRNNCells) else [cell]
    return all(isinstance(c, RecurrentCell) for c in cells)


def _gradient_allowed(cell: Any, training: Any) -> bool:
    """No gradient can be taken here, or it would be the hand-written one."""
    if not record.could_possibly_record():
        return True
    return training is True and isinstance(cell, RecurrentCell) and cell.trains_by_hand_gradient()


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
    if layer.unroll or tf.distribute.has_strategy() or not _own_cells(layer.cell):
        return False
    if tf.config.list_logical_devices("GPU"):
        return False
    if training is True:
        return batch is not None and batch <= AUTO_TRAINING_MAX_BATCH
    return True
