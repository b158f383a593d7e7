"""RNN for Keras 3: any cell (tfrnn.keras3's or a Keras 3 cell) run on the
engine, with the call of tf_keras's ``tfrnn.RNN`` (``RecurrentCall``)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfrnn.argument_checks import check_cell
from tfrnn.engine.compiled import CompiledRuns
from tfrnn.keras3.stacked import StackedRNNCells
from tfrnn.layers import xla_policy
from tfrnn.layers.recurrent_call import RecurrentCall, state_sizes
from tfrnn.two_kerases import refuse_tf_keras_objects


def as_tuples(shapes: Any) -> Any:
    """TensorShapes (or a list of them) as the tuples Keras 3 expects."""
    if isinstance(shapes, list):
        return [as_tuples(shape) for shape in shapes]
    return tuple(tf.TensorShape(shapes).as_list())


@keras.saving.register_keras_serializable(package="tfrnn")
class RNN(RecurrentCall, keras.Layer):
    """Base class for recurrent layers in Keras 3; runs ``cell`` over time.

    Arguments as ``tfrnn.RNN``: a cell (or a list of cells, stacked), return_sequences, return_state,
    go_backwards, stateful, unroll, time_major, ``jit_compile`` ("auto",
    True or False) and zero_output_for_mask. Call with ``mask``,
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
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        class_name = type(self).__name__
        refuse_tf_keras_objects(class_name, "cell", cell, class_name)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        check_cell(f"RNN layer '{kwargs.get('name', class_name)}'", cell, keras="keras")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.time_major = time_major
        self.zero_output_for_mask = zero_output_for_mask
        self.jit_compile = xla_policy.check_jit_compile(self.name, jit_compile)
        self._compiled_runs = CompiledRuns()
        self.supports_masking = True
        self.input_spec = None
        self._states = None
        self._num_constants = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = type(self).__name__
        refuse_tf_keras_objects(f"{name} '{self.name}'", "inputs", [args, kwargs], name)
        return super().__call__(*args, **kwargs)

    # ----------------------------------------------------------------- shapes
    def compute_output_shape(self, sequences_shape):
        """As the call returns them: the states nested as the cell's (Keras 3
        builds functional models from these shapes)."""
        shapes = super().compute_output_shape(sequences_shape)
        if not self.return_state:
            return as_tuples(shapes)
        structure = list(state_sizes(self.cell))
        count = len(tf.nest.flatten(structure))
        states = tf.nest.pack_sequence_as(structure, shapes[len(shapes) - count :])
        return as_tuples(shapes[: len(shapes) - count] + list(states))

    def build(self, sequences_shape):
        shape = tf.TensorShape(sequences_shape).as_list()
        if len(shape) < 3:
            raise ValueError(
                f"Layer '{self.name}' expects inputs of rank 3 or more "
                f"(batch, time, features), got shape {tuple(shape)}."
            )
        batch = shape[1 if self.time_major else 0]
        if isinstance(self.cell, keras.Layer) and not self.cell.built:
            self.cell.build(tuple([batch, *shape[2:]]))
        if self.stateful:
            if batch is None:
                raise ValueError(
                    f"Layer '{self.name}' is stateful, so it needs a fixed batch size: "
                    "pass batch_shape=(batch, time, features) to keras.Input."
                )
            self._stateful_batch = int(batch)
            self.reset_states()
        self.built = True

    # ----------------------------------------------------------------- states
    @property
    def states(self) -> list:
        if self._states is None:
            return [None for _ in tf.nest.flatten(state_sizes(self.cell))]
        return self._states

    def reset_states(self, states: list | None = None) -> None:
        """Reset a stateful layer's states to zeros, or to ``states``."""
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' is not stateful; nothing to reset.")
        shapes = [
            (self._stateful_batch, *tf.TensorShape(size).as_list())
            for size in tf.nest.flatten(state_sizes(self.cell))
        ]
        values = [np.zeros(shape) for shape in shapes] if states is None else list(states)
        if [tuple(np.shape(v)) for v in values] != shapes:
            raise ValueError(
                f"Layer '{self.name}': reset_states needs states of shapes {shapes}, got "
                f"{[tuple(np.shape(v)) for v in values]}."
            )
        values = [np.asarray(v, dtype=self.compute_dtype) for v in values]
        if self._states is None:
            with tf.init_scope():  # build() may run inside a function's graph
                self._states = [
                    tf.Variable(v, trainable=False, name=f"state_{i}")
                    for i, v in enumerate(values)
                ]
        else:
            for variable, value in zip(self._states, values):
                variable.assign(value)

    def reset_state(self) -> None:
        """Keras 3's spelling of ``reset_states()``."""
        self.reset_states()

    def _cell_initial_state(self, init, batch, dtype):
        """Keras 3 asks a cell with the batch size alone (and gets a list)."""
        return [tf.cast(state, dtype) for state in tf.nest.flatten(init(batch_size=batch))]

    def _record_state_updates(self, updates: list) -> None:
        """Nothing to hand over: Keras 3 runs the assignments where they are."""

    # ------------------------------------------------------------------- call
    def call(self, sequences, initial_state=None, mask=None, training=False, constants=None):
        if constants is not None:
            constants = list(constants) if isinstance(constants, (list, tuple)) else [constants]
            self._num_constants = len(constants)
        return super().call(
            sequences,
            mask=mask,
            training=training,
            initial_state=initial_state,
            constants=constants,
        )

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
            "zero_output_for_mask": self.zero_output_for_mask,
            "cell": keras.saving.serialize_keras_object(self.cell),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = keras.saving.deserialize_keras_object(
            config.pop("cell"), custom_objects=custom_objects
        )
        return cls(cell, **config)
