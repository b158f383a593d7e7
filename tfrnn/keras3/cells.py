"""SimpleRNNCell, GRUCell and LSTMCell as Keras 3 layers: tfrnn's arguments
(plus Keras 3's ``seed``), the weights of Keras 3's cells, and the math the
tf_keras cells run (``tfrnn.cells.dense_cells``, ``tfrnn.cell_math``)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import constraints, initializers, regularizers

from tfrnn.argument_checks import check_rate, check_units
from tfrnn.cell_math.dense import dropout_masks
from tfrnn.cells.dense_cells import (
    DenseCellMixin,
    GRUCellMixin,
    LSTMCellMixin,
    SimpleRNNCellMixin,
)
from tfrnn.cells.lstm import check_implementation
from tfrnn.keras3.activations import get_activation, keras3_activation
from tfrnn.two_kerases import refuse_tf_keras_caller, refuse_tf_keras_objects, tfrnn_class_name

#: the initializers, regularizers and constraints of a cell's three weights
WEIGHT_SETTINGS = {
    f"{weight}_{kind}": module
    for kind, module in (
        ("initializer", initializers),
        ("regularizer", regularizers),
        ("constraint", constraints),
    )
    for weight in ("kernel", "recurrent", "bias")
}


def set_weight_settings(cell: keras.Layer, **settings: Any) -> None:
    """Each of ``WEIGHT_SETTINGS`` on ``cell``, resolved by Keras 3."""
    for name, value in settings.items():
        setattr(cell, name, WEIGHT_SETTINGS[name].get(value))


def weight_settings_config(cell: keras.Layer) -> dict[str, Any]:
    """``WEIGHT_SETTINGS`` of ``cell`` as Keras 3 serializes them."""
    return {
        name: module.serialize(getattr(cell, name)) for name, module in WEIGHT_SETTINGS.items()
    }


def seeded_dropout_masks(cell: keras.Layer, sample, rate, count, training):
    """Dropout masks drawn from ``cell.seed_generator``, as Keras 3's cells draw them."""

    def drop(ones, rate):
        return keras.random.dropout(ones, rate, seed=cell.seed_generator)

    return dropout_masks(sample, rate, count, training, drop=drop)


class DenseCell(DenseCellMixin, keras.Layer):
    """Shared constructor, config and one-step call of the Keras 3 dense cells."""

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        """``seed`` seeds the dropout masks (Keras 3's ``SeedGenerator``)."""
        super().__init__(**kwargs)
        self.units = check_units(self.name, units)
        self.activation = get_activation(self.name, activation, "activation")
        self.use_bias = bool(use_bias)
        set_weight_settings(
            self,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        self.dropout = check_rate(self.name, dropout, "dropout")
        self.recurrent_dropout = check_rate(self.name, recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = tfrnn_class_name(self)
        refuse_tf_keras_objects(f"{name} '{self.name}'", "inputs", [args, kwargs], name)
        return super().__call__(*args, **kwargs)

    def math_activation(self, fn: Any):
        return keras3_activation(fn)

    def draw_dropout_masks(self, sample, rate, count, training):
        return seeded_dropout_masks(self, sample, rate, count, training)

    def call(self, inputs, states, training=False):
        """One step; ``states`` a list (or, for a one-state cell, a tensor,
        then the new state is one too), as Keras 3's cells take them."""
        fns = self.step_functions(inputs, training)
        output, new_states = fns.step(fns.project(inputs), list(tf.nest.flatten(states)))
        if not isinstance(self.state_size, list) and not tf.nest.is_nested(states):
            return output, new_states[0]
        return output, new_states

    def get_initial_state(self, batch_size=None, **tf_keras_arguments):
        """Zero states (Keras 3's signature): a list, one per state. tf_keras's
        RNN asks with ``inputs`` and ``dtype`` too: a Keras 3 cell there is refused."""
        if tf_keras_arguments:
            refuse_tf_keras_caller(self, "get_initial_state was given `inputs` and `dtype`")
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [tf.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_settings_config(self),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


class GatedCell(DenseCell):
    """A dense cell with gates: ``recurrent_activation`` and ``implementation``
    (arguments after ``units`` by keyword)."""

    def __init__(
        self,
        units: int,
        *,
        recurrent_activation: Any = "sigmoid",
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        """``implementation`` 1 draws a dropout mask per gate, 2 one for all."""
        super().__init__(units, **kwargs)
        self.recurrent_activation = get_activation(
            self.name, recurrent_activation, "recurrent_activation"
        )
        self.implementation = check_implementation(self.name, implementation)

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "implementation": self.implementation,
        }


@keras.saving.register_keras_serializable(package="tfrnn")
class SimpleRNNCell(SimpleRNNCellMixin, DenseCell):
    """Cell class for SimpleRNN (Keras 3)."""


@keras.saving.register_keras_serializable(package="tfrnn")
class GRUCell(GRUCellMixin, GatedCell):
    """Cell class for the GRU layer (Keras 3); ``reset_after`` as tfrnn.GRUCell."""

    def __init__(self, units: int, *, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="tfrnn")
class LSTMCell(LSTMCellMixin, GatedCell):
    """Cell class for the LSTM layer (Keras 3); ``unit_forget_bias`` as tfrnn.LSTMCell."""

    def __init__(self, units: int, *, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
