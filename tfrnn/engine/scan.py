"""The sequence engine: one loop over time for every tfrnn layer.

Pure TensorFlow (no Keras import). A layer hands ``scan`` a step function and
the (already projected) per-timestep inputs; ``scan`` owns the loop: masking,
direction, unrolling, state carry and output collection.

Masking follows tf_keras's ``backend.rnn``: at a masked timestep the states
keep their previous value and the output repeats the previous step's output
(zeros before the first valid step), or is zero when ``zero_output_for_mask``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

Nested = Any
StepFn = Callable[..., tuple[Nested, Nested]]


class ScanResult(NamedTuple):
    """What ``scan`` returns.

    ``outputs`` is None unless ``return_all_outputs``; otherwise it has the
    same time/batch layout as the inputs. ``records`` holds the stacked
    per-step records when ``scan`` was given ``record_like`` (and keeps
    them); ``reduced`` is the result of ``reduce_blocks``.
    """

    last_output: Nested
    outputs: Nested | None
    states: Nested
    records: list[tf.Tensor] | None = None
    reduced: Nested | None = None


def _swap_batch_time(tensor: tf.Tensor) -> tf.Tensor:
    rank = tensor.shape.rank
    return tf.transpose(tensor, [1, 0] + list(range(2, rank)))


def _expand_to(mask_t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshape a (batch,) boolean mask so it broadcasts against ``like``."""
    extra = like.shape.rank - 1
    if extra <= 0:
        return mask_t
    return tf.reshape(mask_t, tf.concat([tf.shape(mask_t), [1] * extra], axis=0))


def _select(mask_t: tf.Tensor, new: list[tf.Tensor], old: list[tf.Tensor]) -> list[tf.Tensor]:
    return [tf.where(_expand_to(mask_t, n), n, o) for n, o in zip(new, old)]


#: timesteps each ``tf.while_loop`` iteration runs, unrolled in its body.
#: Fewer iterations mean less loop bookkeeping per step, and a block's input
#: projection is one matmul that the executor can run ahead of the
#: recurrence on an idle core (measured with scripts/bench.py).
STEPS_PER_ITERATION = 4
#: a step whose states hold at least this many values (statically known)
#: runs ``LARGE_STEP_STEPS_PER_ITERATION`` timesteps per iteration: its
#: matmuls already fill both cores, and a smaller block's projection waits
#: less (scripts/bench.py: GRU batch 64 x 256 units inference 0.87 -> 1.01
#: of tf_keras's speed, ConvLSTM2D training 0.97 -> 1.09).
LARGE_STEP_VALUES = 16384
LARGE_STEP_STEPS_PER_ITERATION = 2
#: iterations the executor may run ahead (independent work of later blocks)
PARALLEL_ITERATIONS = 32


def scan(
    step_fn: StepFn,
    inputs: Nested,
    initial_states: Nested,
    initial_output: Nested,
    *,
    mask: tf.Tensor | None = None,
    constants: list[tf.Tensor] | None = None,
    go_backwards: bool = False,
    unroll: bool = False,
    zero_output_for_mask: bool = False,
    time_major: bool = False,
    return_all_outputs: bool = True,
    time_ordered_outputs: bool = False,
    record_like: Nested | None = None,
    keep_records: bool = True,
    reduce_blocks: tuple[Callable[..., Nested], Nested] | None = None,
    differentiable: bool = True,
    project: Callable[[Nested], Nested] | None = None,
    steps_per_iteration: int | None = None,
    xla: bool | None = None,
    active_range: tuple[Any, Any] | None = None,
    output_is_first_state: bool = False,
) -> ScanResult:
    """Run ``step_fn`` over the time axis of ``inputs``.

    Args:
      step_fn: ``step_fn(inputs_t, states) -> (output_t, new_states)``, or
        ``step_fn(inputs_t, states, constants)`` when ``constants`` is given.
        ``states`` and ``new_states`` share the structure of
        ``initial_states``. ``inputs_t`` is one timestep of ``project``'s
        result (of ``inputs`` without ``project``).
      inputs: a tensor or nested structure of tensors, ``(batch, time, ...)``
        or ``(time, batch, ...)`` when ``time_major``.
      initial_states: nested structure of ``(batch, ...)`` tensors.
      initial_output: zeros shaped like one step's output (nested allowed);
        the output before the first valid timestep of a masked row.
      mask: optional boolean ``(batch, time)`` (``(time, batch)`` when
        ``time_major``); False marks timesteps to skip.
      constants: optional list of tensors handed unchanged to every step.
      go_backwards: iterate from the last timestep to the first; outputs
        come back in that reversed order, as in tf_keras.
      unroll: unroll the loop in Python (needs a static time length).
      zero_output_for_mask: output zeros at masked timesteps.
      time_major: layout of ``inputs``, ``mask`` and ``outputs``.
      return_all_outputs: collect every timestep's output.
      time_ordered_outputs: with ``go_backwards``, put each output (and
        record) at its timestep's index instead of in the order the steps ran.
      record_like: zeros shaped like one step's records (nested allowed):
        ``step_fn`` then returns ``(output, new_states, records)``, tensors
        kept for every step (never masked) in ``ScanResult.records``.
      keep_records: False: records only reach ``reduce_blocks``.
      reduce_blocks: ``(fn, initial)``: after each block of timesteps the
        loop runs, ``acc = fn(acc, block, block_records, start)`` (starting from
        ``initial``), where ``block`` is that block of ``inputs`` and
        ``block_records`` its steps' records stacked, both ``(steps, batch,
        ...)`` in time order, and ``start`` the block's first timestep. Work
        on whole blocks that no step waits for (a weight's gradient, say)
        then runs inside the loop, beside the recurrence, instead of after it.
        With ``xla`` (XLA runs one op at a time, so nothing runs beside the
        recurrence) the records are kept instead and ``fn`` runs once, after
        the loop, on the whole sequence (``start`` 0).
      differentiable: False when no gradient will be taken through this
        loop (a loop inside a hand-written gradient): the inputs are then
        read in place instead of through TensorArrays.
      project: the part of a step that does not depend on the states (a
        cell's input projection), applied to whole blocks of timesteps
        ``(steps, batch, ...)`` at once instead of once per step.
      steps_per_iteration: timesteps per loop iteration (None:
        ``STEPS_PER_ITERATION``, or ``LARGE_STEP_STEPS_PER_ITERATION`` for
        states of ``LARGE_STEP_VALUES`` values or more; 1 under XLA); the
        last ``time % steps_per_iteration`` steps run one per iteration.
      xla: whether XLA compiles the loop (None: whether it is traced inside
        an XLA-compiled function); it lays the loop out for XLA.
      active_range: ``(begin, end)`` (int32 scalars): the timesteps outside
        ``begin:end`` are known to be fully masked, and are not run (a
        block that straddles the border runs whole): their outputs and
        records are left zero, which is what the run gives for masked steps
        before the first valid one; after the last, the caller fills in the
        repeated output. Not with ``unroll``.
      output_is_first_state: the step's output is its first new state, the
        very tensor (every SimpleRNN, GRU and LSTM step): without a mask the
        last output is then the final first state, and the loop carries no
        output beside the states (one copy per step less under XLA).
    """
    if xla is None:
        xla = in_xla_context()
    flat_inputs = tf.nest.flatten(inputs)
    if not time_major:
        flat_inputs = [_swap_batch_time(x) for x in flat_inputs]
        if mask is not None:
            mask = tf.transpose(mask)
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
    if project is None:
        project = _identity

    flat_states = tf.nest.flatten(initial_states)
    flat_output = tf.nest.flatten(initial_output)
    flat_records = None if record_like is None else tf.nest.flatten(record_like)
    reduce_after = reduce_blocks is not None and not unroll and xla
    kept_records = flat_records if keep_records or reduce_after else None
    extra = () if constants is None else (constants,)

    def one_step(inputs_t, mask_t, states, prev_output):
        packed_states = tf.nest.pack_sequence_as(initial_states, states)
        output, new_states, *records = step_fn(inputs_t, packed_states, *extra)
        new_states = tf.nest.flatten(new_states)
        output = tf.nest.flatten(output)
        if len(new_states) != len(states):
            raise ValueError(
                f"The step function returned {len(new_states)} states but the RNN "
                f"carries {len(states)}; a cell's call must return as many states as "
                "its state_size lists."
            )
        for new, old in zip(new_states, states):
            new.set_shape(old.shape)
        if output_is_first_state and output[0] is not new_states[0]:
            raise ValueError("output_is_first_state: the step's output is not its first state")
        if mask_t is not None:
            new_states = _select(mask_t, new_states, states)
            fallback = [tf.zeros_like(o) for o in output] if zero_output_for_mask else prev_output
            output = _select(mask_t, output, fallback)
        return output, new_states, tf.nest.flatten(records)

    def run_block(block, block_mask, steps, states, output, write, reduced, block_start):
        """``steps`` timesteps from one block of inputs ``(steps, batch, ...)``,
        last first when ``go_backwards``; ``write(i, output, records)`` keeps
        what the ``i``-th step run gave. Returns the states, the last output
        and the block's reduction."""
        block = tf.nest.pack_sequence_as(inputs, block)
        projected = project(block)
        per_step = [tf.unstack(p, steps) for p in tf.nest.flatten(projected)]
        masks = [None] * steps if block_mask is None else tf.unstack(block_mask, steps)
        order = range(steps - 1, -1, -1) if go_backwards else range(steps)
        block_records = [None] * steps
        for i, t in enumerate(order):
            inputs_t = tf.nest.pack_sequence_as(projected, [p[t] for p in per_step])
            output, states, block_records[t] = one_step(inputs_t, masks[t], states, output)
            write(i, output, block_records[t])
        if reduce_blocks is not None and not reduce_after:
            stacked = [tf.stack(r) for r in zip(*block_records)]
            reduced = reduce_blocks[0](reduced, block, stacked, block_start)
        return states, output, reduced

    def finish(output, outputs, states, records, reduced) -> ScanResult:
        if outputs is not None and not time_major:
            outputs = [_swap_batch_time(o) for o in outputs]
        return ScanResult(
            last_output=tf.nest.pack_sequence_as(initial_output, list(output)),
            outputs=None if outputs is None else tf.nest.pack_sequence_as(initial_output, outputs),
            states=tf.nest.pack_sequence_as(initial_states, list(states)),
            records=records,
            reduced=reduced if reduce_blocks is not None else None,
        )

    initial_reduced = () if reduce_blocks is None else reduce_blocks[1]

    reverse_outputs = go_backwards and time_ordered_outputs
    if unroll:
        time_steps = flat_inputs[0].shape[0]
        if time_steps is None:
            raise ValueError(
                "Cannot unroll an RNN over an undefined time dimension: give the "
                "first layer a fixed input length (input_shape=(T, features)) or "
                "set unroll=False."
            )
        collected = []  # the unrolled run reads the whole sequence as one block
        states, output, reduced = run_block(
            flat_inputs,
            mask,
            time_steps,
            flat_states,
            flat_output,
            lambda i, o, r: collected.append((o, r)),
            initial_reduced,
            0,
        )
        if reverse_outputs:
            collected.reverse()
        outputs = (
            [tf.stack([o[i] for o, _ in collected]) for i in range(len(flat_output))]
            if return_all_outputs
            else None
        )
        records = None
        if kept_records is not None:
            records = [tf.stack([r[i] for _, r in collected]) for i in range(len(kept_records))]
        return finish(output, outputs, states, records, reduced)

    time_steps = tf.shape(flat_inputs[0])[0]

    static_steps = flat_inputs[0].shape[0]

    def arrays(like):
        # a static size where known: the stacked arrays keep the time length
        size = time_steps if static_steps is None else static_steps
        return [tf.TensorArray(x.dtype, size=size, element_shape=x.shape) for x in like]

    # The previous output is carried only where a step needs it (a masked
    # step repeats it) or nothing else gives the last one.
    last_is_state = output_is_first_state and mask is None and bool(static_steps)
    carry_output = mask is not None or not (return_all_outputs or last_is_state)
    carry = _Carry(
        output=flat_output if carry_output else [],
        states=flat_states,
        output_arrays=arrays(flat_output) if return_all_outputs else [],
        record_arrays=[] if kept_records is None else arrays(kept_records),
        reduced=initial_reduced,
    )
    steps = max(1, int(steps_per_iteration or default_steps_per_iteration(flat_states, xla)))
    records_by_time = reverse_outputs or reduce_after
    # Whole blocks of `steps` timesteps, then the rest one per iteration
    # (loops that static shapes show to be empty are left out).
    head = (time_steps // steps) * steps if steps > 1 else 0
    loop = functools.partial(
        _loop,
        run_block,
        flat_inputs,
        mask,
        time_steps,
        go_backwards,
        reverse_outputs,
        records_by_time,
        differentiable,
        None if unroll else active_range,
    )
    if steps > 1 and (static_steps is None or static_steps >= steps):
        carry = loop(0, head, steps, carry)
    if steps == 1 or static_steps is None or static_steps % steps:
        carry = loop(head, time_steps, 1, carry)
    outputs = [ta.stack() for ta in carry.output_arrays] if return_all_outputs else None
    output = carry.output
    if not carry_output:  # the last step run's output
        if return_all_outputs:
            output = [o[0] if reverse_outputs else o[-1] for o in outputs]
        else:
            output = carry.states[:1]
    records = None if kept_records is None else [ta.stack() for ta in carry.record_arrays]
    reduced = carry.reduced
    if reduce_after:
        reduced = reduce_blocks[0](reduced, flat_inputs, records, tf.constant(0))
        records = records if keep_records else None
    return finish(output, outputs, carry.states, records, reduced)


def in_xla_context() -> bool:
    """Being traced inside a function that XLA compiles."""
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def default_steps_per_iteration(flat_states: list[tf.Tensor], xla: bool = False) -> int:
    """Timesteps per iteration for states of these (static) sizes: blocks
    for TensorFlow's executor, one under XLA (whose fused step kernels leave
    no per-op overhead to save, and whose elementwise kernels read a
    block's slices less well than a step's own matmul result)."""
    if xla:
        return 1
    sizes = [state.shape.num_elements() for state in flat_states]
    if sizes and None not in sizes and sum(sizes) >= LARGE_STEP_VALUES:
        return LARGE_STEP_STEPS_PER_ITERATION
    return STEPS_PER_ITERATION


class _Carry(NamedTuple):
    """What one loop hands the next: the previous output (or nothing), the
    states, the TensorArrays of outputs and records, and the reduction."""

    output: list
    states: list
    output_arrays: list
    record_arrays: list
    reduced: Nested


def _identity(inputs: Nested) -> Nested:
    return inputs


def _time_slice(x: tf.Tensor, start: tf.Tensor, steps: int) -> tf.Tensor:
    """``x[start:start + steps]``, read in place (a slice along the first axis
    shares the buffer). The length is given statically, so XLA sees a block
    of ``steps`` timesteps (with a computed end, its slice has the whole
    time axis's shape)."""
    if steps == 1:  # XLA reads one timestep with a plain dynamic slice (no pad)
        return x[start][tf.newaxis]
    begin = tf.stack([start] + [0] * (x.shape.rank - 1))
    return tf.slice(x, begin, [steps] + [-1] * (x.shape.rank - 1))


def _loop(
    run_block,
    flat_inputs,
    mask,
    time_steps,
    backwards,
    write_by_time,
    records_by_time,
    differentiable,
    active_range,
    start,
    stop,
    steps,
    carry,
) -> _Carry:
    """One ``tf.while_loop`` over the steps ``start:stop`` of the run (a
    multiple of ``steps`` long), ``steps`` timesteps per iteration. Run
    backwards, step ``i`` reads timestep ``time_steps - 1 - i``: the blocks
    are read last first, without reversing the inputs. Step ``i``'s output
    goes to index ``i``, or to its timestep's index when ``write_by_time``
    (its records likewise with ``records_by_time``). Only the iterations
    that hold a timestep of ``active_range`` run."""
    blocks = (stop - start) // steps
    first_block, end_block = _active_blocks(
        active_range, time_steps, backwards, start, steps, blocks
    )
    time_first, time_last = (time_steps - stop, time_steps - start) if backwards else (start, stop)

    def blocked(x):
        part = x[time_first:time_last]
        return tf.reshape(part, tf.concat([[blocks, steps], tf.shape(part)[1:]], 0))

    def block_array(x):
        element = tf.TensorShape([steps]).concatenate(x.shape[1:])
        parts = blocked(x)
        size = blocks
        if x.shape[0] is None:
            # At least one block, which an empty loop never reads: XLA
            # compiles the reads of a loop that runs no iteration too.
            size = tf.maximum(blocks, 1)
            parts = tf.pad(parts, [[0, size - blocks]] + [[0, 0]] * (parts.shape.rank - 1))
        return tf.TensorArray(x.dtype, size=size, element_shape=element).unstack(parts)

    def reader(x):
        """``read(index)``: the ``index``-th block of ``x``."""
        if differentiable:  # a TensorArray: its gradient is one stack
            return block_array(x).read
        if x.shape[0] is None:  # as in block_array: at least one block to read
            x = tf.pad(x, [[0, tf.maximum(steps - time_steps, 0)]] + [[0, 0]] * (x.shape.rank - 1))
        return lambda index: _time_slice(x, time_first + index * steps, steps)

    input_readers = [reader(x) for x in flat_inputs]
    mask_reader = None if mask is None else reader(mask)

    def body(j, carry):
        first = start + j * steps
        output_arrays, record_arrays = list(carry.output_arrays), list(carry.record_arrays)

        def write(i, step_output, records):
            by_time = time_steps - 1 - (first + i) if backwards else first + i
            index = by_time if write_by_time else first + i
            output_arrays[:] = [a.write(index, v) for a, v in zip(output_arrays, step_output)]
            index = by_time if records_by_time else first + i
            record_arrays[:] = [a.write(index, v) for a, v in zip(record_arrays, records)]

        index = blocks - 1 - j if backwards else j
        block = [read(index) for read in input_readers]
        block_mask = None if mask_reader is None else mask_reader(index)
        # With no output carried, `output` is only the fallback of masked
        # steps, of which there are none.
        output = list(carry.output) or [None] * len(output_arrays)
        states, output, reduced = run_block(
            block,
            block_mask,
            steps,
            list(carry.states),
            output,
            write,
            carry.reduced,
            time_first + index * steps,
        )
        kept = list(output) if carry.output else []
        return j + 1, _Carry(kept, states, output_arrays, record_arrays, reduced)

    _, carry = tf.while_loop(
        lambda j, *_: j < end_block,
        body,
        (first_block, carry),
        maximum_iterations=blocks,
        parallel_iterations=PARALLEL_ITERATIONS,
    )
    return carry


def _active_blocks(active_range, time_steps, backwards, start, steps, blocks):
    """The iterations ``first:end`` of a loop over the steps ``start:`` (in
    the order they run, ``blocks`` iterations of ``steps``) that hold a
    timestep of ``active_range``; all of them without one."""
    if active_range is None:
        return tf.constant(0), blocks
    begin, end = active_range
    if backwards:  # step i runs timestep time_steps - 1 - i
        begin, end = time_steps - end, time_steps - begin
    first = tf.clip_by_value(tf.math.floordiv(begin - start, steps), 0, blocks)
    last = tf.clip_by_value(-tf.math.floordiv(start - end, steps), first, blocks)
    return first, last
