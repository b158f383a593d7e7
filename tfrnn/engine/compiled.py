"""Running a sequence computation: plain, stopped early, or compiled with XLA.

Pure TensorFlow (no Keras import). ``run_sequence`` takes ``run(inputs,
states, mask, constants, active_range) -> ScanResult`` (the engine over
time-major inputs, ``active_range`` as ``scan`` takes it) and

- with a mask, runs only up to the last timestep at which any row is
  unmasked (``tfrnn.engine.lengths``), filling the rest in exactly; the
  bound is a runtime value, so no shape depends on the mask;
- with ``compiled`` (a ``CompiledRun``), calls ``run`` as a
  ``tf.function(jit_compile=True)``. XLA compiles once per input shape, so
  a time axis of unknown or ever new length is padded to a bucket length
  (``BUCKET_LENGTHS``, padded steps never run): a handful of compilations
  however many distinct lengths come.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf
from tensorflow.python.saved_model import save_context

from tfrnn.engine import lengths
from tfrnn.engine.batch_pieces import pieces_for, run_in_pieces
from tfrnn.engine.scan import ScanResult, in_xla_context

Run = Callable[[Any, Any, Any, Any, Any], ScanResult]


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
#: (and lengths unknown when traced) are padded to a bucket length, so calls
#: of many lengths compile a bounded number of times
EXACT_LENGTHS = 4


class CompiledRun:
    """``run`` as ``tf.function(jit_compile=True)``s, one per input signature
    (XLA compiles once per shape anyway; one function each never warns of
    retracing), and the static lengths it has run exactly."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._functions: dict[Any, Callable[..., ScanResult]] = {}
        self._exact_lengths: set[int] = set()

    def __call__(self, *args: Any) -> ScanResult:
        key = tuple(_signature(value) for value in tf.nest.flatten(args))
        if key not in self._functions:
            self._functions[key] = tf.function(self._run, jit_compile=True, autograph=False)
        return self._functions[key](*args)

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


def _signature(value: Any) -> Any:
    """What of an argument a trace depends on: a tensor's (or variable's)
    kind, shape and dtype; a plain value itself."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return value
    dims = None if shape.rank is None else tuple(shape.as_list())
    return type(value).__name__, dims, value.dtype


class CompiledRuns:
    """One ``CompiledRun`` per key (what the run closes over that changes
    its graph: training, say), made on first use."""

    def __init__(self) -> None:
        self._runs: dict[Any, CompiledRun] = {}

    def __deepcopy__(self, memo: dict) -> CompiledRuns:
        """A copy starts empty: the compiled functions are a cache of the
        original's traces (and cannot be copied)."""
        return CompiledRuns()

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
    cut_batch: bool = True,
) -> ScanResult:
    """``run(inputs, states, mask, constants, active_range)`` on time-major
    ``inputs``: with a mask and ``stop_early``, only the timesteps up to
    the last one any row keeps run (``active_range``, a runtime bound, so
    no shape depends on the mask), the rest filled in; through
    ``compiled`` (``run`` compiled with XLA) when given, the time axis
    padded to a bucket length where its length is unknown or new (the
    padded steps never run), and with ``cut_batch`` in pieces of the batch
    run side by side (``tfrnn.engine.batch_pieces``; ``constants`` go to
    every piece whole, so a run whose constants hold a row each passes
    ``cut_batch=False``). Without ``stop_early`` (an unrolled run) the
    input passes whole."""
    call = compiled if compiled is not None else run
    pieces = pieces_for(tf.nest.flatten(inputs)[0].shape[1]) if cut_batch else 1
    if compiled is not None and pieces > 1:

        def call(*args: Any) -> ScanResult:
            return run_in_pieces(compiled, *args, pieces)

    if not stop_early:
        return call(inputs, states, mask, constants, None)
    first = tf.nest.flatten(inputs)[0]
    steps = tf.shape(first)[0]
    pad = compiled is not None and not compiled.runs_exactly(lengths.static_length(inputs))
    if mask is None and not pad:
        return call(inputs, states, None, constants, None)
    active = steps if mask is None else lengths.active_length(mask)
    if pad:
        run_length = lengths.bucket_length(steps)
        mask = lengths.pad_time(lengths.run_mask(mask, steps, tf.shape(first)[1]), run_length)
        inputs = tf.nest.map_structure(lambda x: lengths.pad_time(x, run_length), inputs)
    result = call(inputs, states, mask, constants, (tf.constant(0), active))
    return lengths.restore_time(
        result,
        active,
        steps,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
