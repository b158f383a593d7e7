"""What a recurrent layer does when called, in either Keras: validate the
mask and the initial states, run the cell on the engine (stopped early on
masks, compiled with XLA where ``xla_policy`` says so), and shape what it
returns. Keras-free: tf_keras's ``tfrnn.RNN`` and Keras 3's
``tfrnn.keras3.RNN`` mix it in and add their own construction, weights,
state variables and config.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrnn.cell_math.steps import CellStack, cell_output_size, step_functions_for
from tfrnn.engine.compiled import run_sequence
from tfrnn.layers import xla_policy


def state_sizes(cell) -> list:
    """A cell's state sizes as a list (nested sizes kept nested)."""
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def split_list_inputs(inputs, initial_state, constants, num_constants: int):
    """``[x, *states, *constants]`` (tf_keras wrappers, old configs) -> parts;
    ``constants`` given as one tensor becomes a list of it, as in tf_keras."""
    if constants is not None and not isinstance(constants, (list, tuple)):
        constants = [constants]
    if not isinstance(inputs, list):
        return inputs, initial_state, constants
    if len(inputs) == 1:
        return inputs[0], initial_state, constants
    tail = inputs[1:]
    if num_constants and constants is None:
        constants, tail = tail[-num_constants:], tail[:-num_constants]
    if tail:
        initial_state = tail
    return inputs[0], initial_state, constants


def with_time_steps(outputs: tf.Tensor, time_steps: int | None, time_axis: int = 0) -> tf.Tensor:
    """``outputs`` with their static length ``time_steps`` on ``time_axis``
    restored (a loop's stacked outputs only know it at run time)."""
    if time_steps is None or outputs.shape.rank is None:
        return outputs
    dims = outputs.shape.as_list()
    dims[time_axis] = time_steps
    outputs.set_shape(dims)
    return outputs


def _swap_batch_time(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [1, 0] + list(range(2, x.shape.rank)))


def _to_ragged(output, row_lengths, go_backwards):
    if not go_backwards:
        return tf.RaggedTensor.from_tensor(output, lengths=row_lengths)
    ragged = tf.RaggedTensor.from_tensor(tf.reverse(output, [1]), lengths=row_lengths)
    return tf.reverse(ragged, [1])


class RecurrentCall:
    """The call of a recurrent layer over ``self.cell``.

    The layer class sets ``cell``, ``return_sequences``, ``return_state``,
    ``go_backwards``, ``stateful`` (with ``states``), ``unroll``,
    ``time_major``, ``jit_compile``, ``zero_output_for_mask``,
    ``_num_constants`` and ``_compiled_runs`` (a ``CompiledRuns``), and
    defines ``_cell_initial_state`` and ``_record_state_updates``.
    """

    def _cell_initial_state(self, init: Any, batch: Any, dtype: tf.DType) -> Any:
        """The states the cell's ``get_initial_state`` (``init``) gives, asked
        as this Keras asks it."""
        raise NotImplementedError(f"{type(self).__name__} must define _cell_initial_state")

    def _record_state_updates(self, updates: list) -> None:
        """Hand this Keras the assignments of a stateful layer's new states."""
        raise NotImplementedError(f"{type(self).__name__} must define _record_state_updates")

    def _output_sizes(self):
        return cell_output_size(self.cell)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], int):
            input_shape = input_shape[0]
        try:
            input_shape = tf.TensorShape(input_shape)
        except (ValueError, TypeError):
            input_shape = tf.TensorShape(tf.nest.flatten(input_shape)[0])
        batch, time = input_shape[0], input_shape[1]
        if self.time_major:
            batch, time = time, batch

        def output_shape(size):
            dims = tf.TensorShape(size).as_list()
            if not self.return_sequences:
                return tf.TensorShape([batch] + dims)
            lead = [time, batch] if self.time_major else [batch, time]
            return tf.TensorShape(lead + dims)

        outputs = tf.nest.flatten(
            tf.nest.map_structure(output_shape, self._output_sizes())
            if tf.nest.is_nested(self._output_sizes())
            else output_shape(self._output_sizes())
        )
        outputs = outputs[0] if len(outputs) == 1 else outputs
        if not self.return_state:
            return outputs
        states = [
            tf.TensorShape([batch] + tf.TensorShape(s).as_list())
            for s in tf.nest.flatten(state_sizes(self.cell))
        ]
        return tf.nest.flatten(outputs) + states

    def compute_mask(self, inputs, mask):
        mask = tf.nest.flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(state_sizes(self.cell))
        return output_mask

    def get_initial_state(self, inputs):
        """Zero (or cell-provided) initial states for ``inputs``."""
        first = tf.nest.flatten(inputs)[0]
        batch = tf.shape(first)[1 if self.time_major else 0]
        init = getattr(self.cell, "get_initial_state", None)
        if init is not None:
            states = self._cell_initial_state(init, batch, first.dtype)
        else:
            states = [
                tf.zeros(tf.concat([[batch], tf.TensorShape(s).as_list()], 0), first.dtype)
                for s in tf.nest.flatten(state_sizes(self.cell))
            ]
        return list(states) if tf.nest.is_nested(states) else [states]

    def _validated_initial_state(self, initial_state, batch):
        expected = tf.nest.flatten(state_sizes(self.cell))
        flat = tf.nest.flatten(initial_state)
        if len(flat) != len(expected):
            raise ValueError(
                f"Layer '{self.name}' has {len(expected)} state(s) but was passed "
                f"{len(flat)} initial state(s)."
            )
        for index, (state, size) in enumerate(zip(flat, expected)):
            want = tf.TensorShape([batch]).concatenate(tf.TensorShape(size))
            if not tf.TensorShape(state.shape).is_compatible_with(want):
                raise ValueError(
                    f"Layer '{self.name}': initial state {index} must have shape "
                    f"{want.as_list()} (batch, state size), got {tf.TensorShape(state.shape).as_list()}."
                )
        return flat

    def _stateful_initial_state(self, initial_state, dtype):
        current = [tf.cast(v, dtype) for v in self.states]
        if initial_state is None:
            return current
        # tf_keras: a stateful layer given initial_state keeps its recorded
        # state once that state is not all zeros.
        recorded = tf.add_n([tf.math.count_nonzero(v) for v in self.states]) > 0
        return tf.cond(recorded, lambda: current, lambda: list(initial_state))

    def call(self, inputs, mask=None, training=None, initial_state=None, constants=None):
        inputs, initial_state, constants = split_list_inputs(
            inputs, initial_state, constants, self._num_constants
        )
        row_lengths = None
        if isinstance(inputs, tf.RaggedTensor):
            if mask is not None:
                raise ValueError(
                    f"Layer '{self.name}' got a RaggedTensor and a mask; a ragged input "
                    "carries its own lengths, so drop the mask (or the Masking layer)."
                )
            if self.unroll:
                raise ValueError(
                    f"Layer '{self.name}': RaggedTensor inputs cannot be unrolled; set "
                    "unroll=False."
                )
            row_lengths = inputs.row_lengths()
            inputs = inputs.to_tensor()
            time_axis = 0 if self.time_major else 1
            mask = tf.sequence_mask(row_lengths, tf.shape(inputs)[time_axis])
            if self.time_major:
                mask = tf.transpose(mask)
        flat_inputs = tf.nest.flatten(inputs)
        first = flat_inputs[0]
        dtype = first.dtype
        batch_axis = 1 if self.time_major else 0
        batch = first.shape[batch_axis]
        if mask is not None:
            mask = self._validated_mask(tf.nest.flatten(mask)[0], first)

        if self.stateful:
            initial_state = self._stateful_initial_state(
                None
                if initial_state is None
                else self._validated_initial_state(initial_state, batch),
                dtype,
            )
        elif initial_state is None:
            initial_state = self.get_initial_state(inputs)
        else:
            initial_state = self._validated_initial_state(initial_state, batch)
        initial_state = [tf.cast(s, dtype) for s in tf.nest.flatten(initial_state)]
        initial_state = tf.nest.pack_sequence_as(state_sizes(self.cell), initial_state)

        self._reset_foreign_dropout_masks()
        static_steps = first.shape[0 if self.time_major else 1]
        if not self.time_major:
            inputs = tf.nest.map_structure(_swap_batch_time, inputs)
            mask = None if mask is None else tf.transpose(mask)
        result = self._run_sequence(inputs, mask, initial_state, training, constants)
        if self.stateful:
            updates = [
                variable.assign(tf.cast(state, variable.dtype))
                for variable, state in zip(self.states, tf.nest.flatten(result.states))
            ]
            self._record_state_updates(updates)
        if self.return_sequences:
            output = tf.nest.map_structure(
                lambda o: with_time_steps(o, static_steps), result.outputs
            )
            if not self.time_major:
                output = tf.nest.map_structure(_swap_batch_time, output)
            if row_lengths is not None:
                output = _to_ragged(output, row_lengths, self.go_backwards)
        else:
            output = result.last_output
        if self.return_state:
            # As tf_keras: one entry per cell state, nested where a cell's
            # state is (e.g. an LSTM cell inside StackedRNNCells).
            return tf.nest.flatten(output) + list(result.states)
        return output

    def _run_sequence(self, inputs, mask, initial_state, training, constants):
        """The sequence computation on time-major ``inputs`` and ``mask``: a ScanResult.

        The hook where LSTM/GRU swap in cuDNN (tfrnn.engine.cudnn). The loop
        stops after the last timestep any row of ``mask`` keeps, and runs
        compiled with XLA where ``xla_policy.compiles`` says so.
        """

        def run(inputs, states, mask, constants, active_range):
            time_first = tf.nest.flatten(inputs)[0]
            fns = step_functions_for(self.cell, time_first[0], training, constants)
            return fns.run(
                inputs,
                states,
                self._initial_output(states, time_first),
                hand_gradient=training is True,
                unroll=self.unroll,
                mask=mask,
                go_backwards=self.go_backwards,
                zero_output_for_mask=self.zero_output_for_mask,
                return_all_outputs=self.return_sequences,
                active_range=active_range,
            )

        compiled = None
        batch = tf.nest.flatten(inputs)[0].shape[1]
        if xla_policy.compiles(self, training, batch):
            key = (
                training,
                constants is None,
                self.return_sequences,
                self.go_backwards,
                self.zero_output_for_mask,
            )
            compiled = self._compiled_runs.get(key, run)
        return run_sequence(
            run,
            inputs,
            initial_state,
            mask,
            constants,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            compiled=compiled,
            stop_early=not self.unroll,
            cut_batch=constants is None,  # constants hold a row each
        )

    def _initial_output(self, initial_state, time_first):
        """Zeros shaped like one step's output (the output before the first
        valid step of a masked row). An output size with unknown dimensions
        (e.g. ConvLSTM over inputs of dynamic spatial size) takes the shape of
        the first state, which is what every built-in cell outputs."""
        batch_size = tf.shape(time_first)[1]

        def zeros(size):
            shape = tf.TensorShape(size)
            if not shape.is_fully_defined():
                return tf.zeros_like(tf.nest.flatten(initial_state)[0])
            return tf.zeros(tf.concat([[batch_size], shape.as_list()], 0), time_first.dtype)

        sizes = self._output_sizes()
        if isinstance(sizes, (int, tf.TensorShape)):
            return zeros(sizes)
        return tf.nest.map_structure(zeros, sizes)

    def _validated_mask(self, mask, first):
        mask = tf.convert_to_tensor(mask)
        expected = first.shape[:2]
        if mask.shape.rank != 2 or not mask.shape.is_compatible_with(expected):
            raise ValueError(
                f"Layer '{self.name}': the mask must have shape {expected.as_list()} "
                f"({'time, batch' if self.time_major else 'batch, time'}) to match the "
                f"input, got {mask.shape.as_list()}."
            )
        return mask

    def _reset_foreign_dropout_masks(self):
        cells = self.cell.cells if isinstance(self.cell, CellStack) else [self.cell]
        for cell in cells:
            for name in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
                reset = getattr(cell, name, None)
                if reset is not None:
                    reset()
