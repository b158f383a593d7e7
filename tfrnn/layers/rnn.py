"""RNN: the base recurrent layer. It runs any cell on the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras
from tf_keras.layers import InputSpec

from tfrnn.cells.base import check_cell, step_functions_for
from tfrnn.cells.stacked import StackedRNNCells, cell_output_size
from tfrnn.engine.compiled import CompiledRuns, run_sequence
from tfrnn.layers import xla_policy
from tfrnn.saving import deserialize_layer
from tfrnn.two_kerases import refuse_keras3_arguments


def _state_sizes(cell) -> list:
    """A cell's state sizes as a list (nested sizes kept nested)."""
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def _translate_shape_kwargs(kwargs: dict) -> None:
    """Keras 2 ``input_dim``/``input_length`` and Keras 3 ``batch_shape``."""
    if "batch_shape" in kwargs:
        kwargs["batch_input_shape"] = tuple(kwargs.pop("batch_shape"))
    if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
        if "input_dim" in kwargs or "input_length" in kwargs:
            kwargs["input_shape"] = (
                kwargs.pop("input_length", None),
                kwargs.pop("input_dim", None),
            )
    kwargs.pop("input_dim", None)
    kwargs.pop("input_length", None)


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


def symbolic_extras(initial_state, constants) -> list | None:
    """Initial states and constants that are all Keras tensors, flattened: tf_keras
    then makes them inputs of the layer (so the model's graph connects them),
    after the sequence. None when there are none or they are not all symbolic."""
    states = [] if initial_state is None else tf.nest.flatten(initial_state)
    extra = states + ([] if constants is None else list(constants))
    if extra and all(_is_keras_tensor(t) for t in extra):
        return extra
    return None


def _is_keras_tensor(value: Any) -> bool:
    try:
        return tf_keras.backend.is_keras_tensor(value)
    except ValueError:  # not a tensor at all (a numpy array, say)
        return False


def call_with_extras(layer, base_call, inputs, extra: list, kwargs: dict):
    """``base_call([inputs, *extra], **kwargs)`` with ``layer``'s input spec
    widened to the extra inputs for that call (as tf_keras's RNN does)."""
    own = layer.input_spec
    widened = None if own is None else [own[0] if isinstance(own, list) else own]
    if widened is not None:
        widened += [None] * len(extra)
    layer.input_spec = widened
    try:
        return base_call([inputs, *extra], **kwargs)
    finally:
        if layer.input_spec is widened:  # build() did not set a new spec
            layer.input_spec = own


def _swap_batch_time(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, [1, 0] + list(range(2, x.shape.rank)))


class BatchIndependent:
    """Mixin: tf_keras treats the layer as one of its own batch-independent layers.

    tf_keras's TimeDistributed runs a layer tf_keras exports as one call over
    (batch * outer) sequences with the mask reshaped to match, and any other
    layer once per outer step with the mask applied to its outputs
    afterwards, which gives other numbers at masked steps. It tells the two
    apart by the exported names below, inherited here from a mixin so the
    tfrnn classes' own ``__dict__`` (which tf_keras's serializer reads for a
    public name) stays without them and they serialize by registered name.
    """

    _keras_api_names = ("tfrnn",)
    _keras_api_names_v1 = ("tfrnn",)


@tf_keras.saving.register_keras_serializable(package="tfrnn")
class RNN(BatchIndependent, tf_keras.layers.Layer):
    """Base class for recurrent layers; runs ``cell`` over the time axis.

    Arguments as tf_keras's ``RNN``: a cell (or a list of cells, stacked),
    return_sequences, return_state, go_backwards, stateful, unroll,
    time_major, and ``jit_compile`` ("auto", True or False: whether the
    engine loop runs compiled with XLA; "auto" does where that was measured
    to be faster, see ``tfrnn.layers.xla_policy``). Call with ``mask``,
    ``training``, ``initial_state`` and ``constants``.
    """

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        time_major: bool = False,
        jit_compile: Any = xla_policy.AUTO,
        **kwargs: Any,
    ) -> None:
        refuse_keras3_arguments(type(self), cell=cell)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        check_cell(f"RNN layer '{kwargs.get('name', type(self).__name__)}'", cell)
        self.zero_output_for_mask = kwargs.pop("zero_output_for_mask", False)
        _translate_shape_kwargs(kwargs)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.time_major = time_major
        self.jit_compile = xla_policy.check_jit_compile(self.name, jit_compile)
        # not tracked: its tf.functions are no part of the layer's SavedModel
        object.__setattr__(self, "_compiled_runs", CompiledRuns())
        self.supports_masking = True
        self.input_spec = None
        self._states = None
        self._num_constants = 0
        if stateful and tf.distribute.has_strategy():
            raise ValueError(
                f"RNN layer '{self.name}': stateful=True is not supported under a "
                "tf.distribute strategy."
            )

    # ----------------------------------------------------------------- shapes
    @property
    def _use_input_spec_as_call_signature(self):
        return False if self.unroll else super()._use_input_spec_as_call_signature

    @property
    def states(self):
        if self._states is None:
            return [None for _ in tf.nest.flatten(_state_sizes(self.cell))]
        return self._states

    @states.setter
    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def states(self, states):
        self._states = states

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
            for s in tf.nest.flatten(_state_sizes(self.cell))
        ]
        return tf.nest.flatten(outputs) + states

    def compute_mask(self, inputs, mask):
        mask = tf.nest.flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(_state_sizes(self.cell))
        return output_mask

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and not isinstance(input_shape[0], int):
            input_shape = input_shape[0]
        try:
            input_shape = tf.TensorShape(input_shape)
            nested = False
        except (ValueError, TypeError):
            nested = True
        batch_axis, time_axis = (1, 0) if self.time_major else (0, 1)

        def spec(shape):
            dims = tf.TensorShape(shape).as_list()
            if len(dims) < 3:
                raise ValueError(
                    f"Layer '{self.name}' expects inputs of rank 3 or more "
                    f"(batch, time, features), got shape {tuple(dims)}."
                )
            if not self.stateful:
                dims[batch_axis] = None
            dims[time_axis] = None
            return InputSpec(shape=tuple(dims))

        def step_shape(shape):
            dims = tf.TensorShape(shape).as_list()
            return tf.TensorShape([dims[batch_axis]] + dims[2:])

        if nested:
            self.input_spec = None
            step_input_shape = tf.nest.map_structure(step_shape, input_shape, check_types=False)
        else:
            self.input_spec = spec(input_shape)
            step_input_shape = step_shape(input_shape)
        if isinstance(self.cell, tf_keras.layers.Layer) and not self.cell.built:
            with tf.name_scope(self.cell.name):
                self.cell.build(step_input_shape)
                self.cell.built = True
        if self.stateful:
            batch = tf.nest.flatten(
                [tf.TensorShape(s)[batch_axis] for s in tf.nest.flatten(input_shape)]
                if nested
                else [input_shape[batch_axis]]
            )[0]
            if batch is None:
                raise ValueError(
                    f"Layer '{self.name}' is stateful, so it needs a fixed batch size: "
                    "pass batch_input_shape=(batch, time, features) or batch_size= to "
                    "the first layer, or batch_shape= to keras.Input."
                )
            self._stateful_batch = int(batch)
            self.built = True  # reset_states() refuses an unbuilt layer
            self.reset_states()
        self.built = True

    # ----------------------------------------------------------------- states
    def _zero_state_arrays(self, batch):
        return [
            np.zeros([batch] + tf.TensorShape(s).as_list(), dtype=self.dtype)
            for s in tf.nest.flatten(_state_sizes(self.cell))
        ]

    def _initial_state_arrays(self, batch):
        """The cell's own initial states (``get_initial_state``, as tf_keras
        asks it), else zeros, as numpy arrays."""
        zeros = self._zero_state_arrays(batch)
        init = getattr(self.cell, "get_initial_state", None)
        if init is None:
            return zeros
        with tf.init_scope():  # build() may run inside a function's graph
            states = init(inputs=None, batch_size=batch, dtype=self.dtype or "float32")
            # batch_get_value also evaluates in a TF1 graph (tf.compat.v1 sessions).
            # (tensors: a cell may give numpy arrays, which batch_get_value cannot read)
            tensors = [tf.convert_to_tensor(s) for s in tf.nest.flatten(states)]
            flat = tf_keras.backend.batch_get_value(tensors)
            values = [np.asarray(v, dtype=self.dtype) for v in flat]
        if [v.shape for v in values] != [z.shape for z in zeros]:
            raise ValueError(
                f"Layer '{self.name}': the cell's get_initial_state gave shapes "
                f"{[v.shape for v in values]}, its state_size needs {[z.shape for z in zeros]}."
            )
        return values

    def reset_states(self, states=None):
        """Reset a stateful layer's states to the cell's initial states (zeros
        unless the cell's ``get_initial_state`` says otherwise), or to ``states``."""
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' is not stateful; nothing to reset.")
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' must be built (called once) before reset_states()."
            )
        zeros = self._zero_state_arrays(self._stateful_batch)
        if states is None:
            values = self._initial_state_arrays(self._stateful_batch)
        else:
            values = tf.nest.flatten(states)
            if len(values) != len(zeros):
                raise ValueError(
                    f"Layer '{self.name}' has {len(zeros)} state(s) but reset_states got "
                    f"{len(values)}."
                )
            for index, (value, zero) in enumerate(zip(values, zeros)):
                if tuple(np.shape(value)) != zero.shape:
                    raise ValueError(
                        f"Layer '{self.name}': state {index} must have shape {zero.shape}, "
                        f"got {tuple(np.shape(value))}."
                    )
        if self._states is None or any(s is None for s in self._states):
            self.states = [
                tf.Variable(np.asarray(v, dtype=self.dtype), trainable=False, name=f"state_{i}")
                for i, v in enumerate(values)
            ]
            for variable in self.states:  # a TF1 session initializes what Keras tracks
                tf_keras.__internal__.backend.track_variable(variable)
        else:
            # batch_set_value also sets them in a TF1 graph (an assign op would not run).
            tf_keras.backend.batch_set_value(
                [
                    (v, np.asarray(value, dtype=self.dtype))
                    for v, value in zip(self._states, values)
                ]
            )

    def get_initial_state(self, inputs):
        """Zero (or cell-provided) initial states for ``inputs``."""
        first = tf.nest.flatten(inputs)[0]
        batch = tf.shape(first)[1 if self.time_major else 0]
        init = getattr(self.cell, "get_initial_state", None)
        if init is not None:
            states = init(inputs=None, batch_size=batch, dtype=first.dtype)
        else:
            states = [
                tf.zeros(tf.concat([[batch], tf.TensorShape(s).as_list()], 0), first.dtype)
                for s in tf.nest.flatten(_state_sizes(self.cell))
            ]
        return list(states) if tf.nest.is_nested(states) else [states]

    # ------------------------------------------------------------------- call
    def __call__(self, inputs, initial_state=None, constants=None, **kwargs):
        inputs, initial_state, constants = split_list_inputs(
            inputs, initial_state, constants, self._num_constants
        )
        refuse_keras3_arguments(
            self, inputs=inputs, initial_state=initial_state, constants=constants
        )
        if constants is not None:
            self._num_constants = len(constants)
        extra = symbolic_extras(initial_state, constants)
        if extra is not None:
            return call_with_extras(self, super().__call__, inputs, extra, kwargs)
        if initial_state is not None:
            kwargs["initial_state"] = initial_state
        if constants is not None:
            kwargs["constants"] = constants
        return super().__call__(inputs, **kwargs)

    def _validated_initial_state(self, initial_state, batch):
        expected = tf.nest.flatten(_state_sizes(self.cell))
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
        initial_state = tf.nest.pack_sequence_as(_state_sizes(self.cell), initial_state)

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
            self.add_update(updates)  # run as the model's state updates in a TF1 graph
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
        cells = self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]
        for cell in cells:
            for name in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
                reset = getattr(cell, name, None)
                if reset is not None:
                    reset()

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "time_major": self.time_major,
            "jit_compile": self.jit_compile,
        }
        if self._num_constants:
            config["num_constants"] = self._num_constants
        if self.zero_output_for_mask:
            config["zero_output_for_mask"] = self.zero_output_for_mask
        config["cell"] = tf_keras.layers.serialize(self.cell)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = deserialize_layer(config.pop("cell"), custom_objects=custom_objects)
        num_constants = config.pop("num_constants", 0)
        layer = cls(cell, **config)
        layer._num_constants = num_constants
        return layer


def _to_ragged(output, row_lengths, go_backwards):
    if not go_backwards:
        return tf.RaggedTensor.from_tensor(output, lengths=row_lengths)
    ragged = tf.RaggedTensor.from_tensor(tf.reverse(output, [1]), lengths=row_lengths)
    return tf.reverse(ragged, [1])
