"""RNN: the base recurrent layer. It runs any cell on the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras
from tf_keras.layers import InputSpec

from tfrnn.argument_checks import check_cell
from tfrnn.cells.stacked import StackedRNNCells
from tfrnn.engine.compiled import CompiledRuns
from tfrnn.layers import xla_policy
from tfrnn.layers.recurrent_call import RecurrentCall, state_sizes
from tfrnn.layers.recurrent_call import split_list_inputs as split_list_inputs  # kept importable
from tfrnn.layers.recurrent_call import with_time_steps as with_time_steps  # kept importable
from tfrnn.saving import deserialize_layer
from tfrnn.two_kerases import refuse_keras3_arguments


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
class RNN(BatchIndependent, RecurrentCall, tf_keras.layers.Layer):
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
            return [None for _ in tf.nest.flatten(state_sizes(self.cell))]
        return self._states

    @states.setter
    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def states(self, states):
        self._states = states

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
            for s in tf.nest.flatten(state_sizes(self.cell))
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

    def _cell_initial_state(self, init, batch, dtype):
        return init(inputs=None, batch_size=batch, dtype=dtype)

    def _record_state_updates(self, updates):
        self.add_update(updates)  # run as the model's state updates in a TF1 graph

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
