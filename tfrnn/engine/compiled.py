"""Running a sequence computation: plain, stopped early, or compiled with XLA.

Pure TensorFlow (no Keras import). ``run_sequence`` takes ``run(inputs,
states, mask, constants) -> ScanResult`` (the engine over time-major
inputs) and

- with a mask, runs only up to the last timestep at which any row is
  unmasked (``tfrnn.engine.lengths``), filling the rest in exactly;
- with ``compiled`` (a ``CompiledRuns``), calls ``run`` as a
  ``tf.function(jit_compile=True)``. XLA compiles once per input shape, so
  a run whose length is not fixed when it is traced (a mask, or a time
  axis of unknown length) is cut or padded to a bucket length
  (``BUCKET_LENGTHS``): a handful of compilations however many distinct
  lengths come.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf
from tensorflow.python.saved_model import save_context

from tfrnn.engine import lengths
from tfrnn.engine.scan import ScanResult, in_xla_context

Run = Callable[[Any, Any, Any, Any], ScanResult]


_plain = threading.local()


@contextlib.contextmanager
def plain_runs() -> Iterator[None]:
    """Within this context (on this thread) no run is compiled: what is traced
    here (an export artifact) stays a plain graph."""
    _plain.depth = getattr(_plain, "depth", 0) + 1
    try:
        yield
    finally:
        _plain.depth -= 1


def can_compile_here() -> bool:
    """XLA may wrap the run here: TF2 behaviour (eager, or a ``tf.function``),
    not inside an outer XLA function, not while a SavedModel is written or
    inside ``plain_runs`` (artifacts stay plain graphs any TensorFlow serves)."""
    return (
        tf.compat.v1.executing_eagerly_outside_functions()
        and not getattr(_plain, "depth", 0)
        and not in_xla_context()
        and not save_context.in_save_context()
    )


#: distinct static lengths one compiled run takes as they are; later ones
#: are padded to a bucket length, so eager calls of many lengths compile a
#: bounded number of times
EXACT_LENGTHS = 4


class CompiledRun:
    """``run`` as a ``tf.function(jit_compile=True)``, and the static lengths
    it has run exactly (each one an XLA compilation)."""

    def __init__(self, run: Run) -> None:
        self.function = tf.function(run, jit_compile=True, autograph=False)
        self._exact_lengths: set[int] = set()

    def runs_exactly(self, steps: int | None) -> bool:
        """Whether an input of static length ``steps`` runs as it is (not
        padded to a bucket length): a length known, and seen before or among
        the first ``EXACT_LENGTHS``."""
        if steps is None:
            return False
        if steps not in self._exact_lengths and len(self._exact_lengths) >= EXACT_LENGTHS:
            return False
        self._exact_lengths.add(steps)
        return True


class CompiledRuns:
    """One ``CompiledRun`` per key (what the run closes over that changes
    its graph: training, say), made on first use."""

    def __init__(self) -> None:
        self._runs: dict[Any, CompiledRun] = {}

    def get(self, key: Any, run: Run) -> CompiledRun:
        if key not in self._runs:
            self._runs[key] = CompiledRun(run)
        return self._runs[key]


def run_sequence(
    run: Run,
    inputs: Any,
    states: Any,
    mask: tf.Tensor | None,
    constants: Any,
    *,
    go_backwards: bool,
    zero_output_for_mask: bool,
    compiled: CompiledRun | None = None,
    stop_early: bool = True,
) -> ScanResult:
    """``run(inputs, states, mask, constants)`` on time-major ``inputs``,
    stopped at the last unmasked timestep (``stop_early``, with a mask) and
    through ``compiled`` (``run`` as an XLA function) when given. Without
    ``stop_early`` (an unrolled run), and inside an outer XLA function (where
    a length read from the mask would make XLA compile once per mask
    value), the input passes whole."""
    static_steps = lengths.static_length(inputs)
    fixed_length = mask is None and (compiled is None or compiled.runs_exactly(static_steps))
    if not stop_early or fixed_length or (compiled is None and in_xla_context()):
        return (compiled.function if compiled else run)(inputs, states, mask, constants)
    return _run_cut(
        compiled.function if compiled else run,
        inputs,
        states,
        mask,
        constants,
        bucket=compiled is not None,
        cap=static_steps if compiled and compiled.runs_exactly(static_steps) else None,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )


def _run_cut(
    run: Run,
    inputs: Any,
    states: Any,
    mask: tf.Tensor | None,
    constants: Any,
    *,
    bucket: bool,
    cap: int | None = None,
    go_backwards: bool,
    zero_output_for_mask: bool,
) -> ScanResult:
    """``run`` over the active timesteps only (all of them without a mask):
    exactly those, or with ``bucket`` padded to a bucket length (at most
    ``cap``, the static time length, when known)."""
    first = tf.nest.flatten(inputs)[0]
    steps = tf.shape(first)[0]
    active = steps if mask is None else lengths.active_length(mask)
    mask = lengths.run_mask(mask, steps, tf.shape(first)[1])
    run_length = lengths.bucket_length(active, cap) if bucket else active
    cut = tf.nest.map_structure(lambda x: lengths.fit_time(x, run_length), inputs)
    result = run(cut, states, lengths.fit_time(mask, run_length), constants)
    return lengths.restore_time(
        result,
        active,
        steps,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
