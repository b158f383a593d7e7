"""What a SimpleRNN, GRU or LSTM cell is in either Keras: its weights'
shapes and names, how a sequence reads them, and the math it hands the
engine (``tfrnn.cell_math``).

Keras-free: these mixins call the Keras class's own ``add_weight`` and read
the settings its constructor stored. Each Keras's cell class (tf_keras's in
``tfrnn.cells``, Keras 3's in ``tfrnn.keras3``) adds the constructor, how
its activations map to the math (``math_activation``) and its config.
"""

from __future__ import annotations

from typing import Any, ClassVar

import tensorflow as tf

from tfrnn.cell_math.activations import Activation
from tfrnn.cell_math.dense import DenseCellMath, Weights, dropout_masks
from tfrnn.cell_math.gru import GRUMath
from tfrnn.cell_math.lstm import LSTMMath
from tfrnn.cell_math.simple_rnn import SimpleRNNMath
from tfrnn.cell_math.steps import EngineCell, StepFunctions
from tfrnn.engine.bptt import FusedCell


def add_recurrent_weights(
    layer: Any,
    kernel_shape: tuple,
    recurrent_shape: tuple,
    bias_shape: tuple | None,
    bias_initializer: Any,
) -> None:
    """``kernel``, ``recurrent_kernel`` and ``bias`` (None without
    ``bias_shape``) on ``layer``, made by its Keras's ``add_weight`` with the
    layer's initializers, regularizers and constraints; ``layer`` is built."""
    layer.kernel = layer.add_weight(
        shape=kernel_shape,
        name="kernel",
        initializer=layer.kernel_initializer,
        regularizer=layer.kernel_regularizer,
        constraint=layer.kernel_constraint,
    )
    layer.recurrent_kernel = layer.add_weight(
        shape=recurrent_shape,
        name="recurrent_kernel",
        initializer=layer.recurrent_initializer,
        regularizer=layer.recurrent_regularizer,
        constraint=layer.recurrent_constraint,
    )
    layer.bias = None
    if bias_shape is not None:
        layer.bias = layer.add_weight(
            shape=bias_shape,
            name="bias",
            initializer=bias_initializer,
            regularizer=layer.bias_regularizer,
            constraint=layer.bias_constraint,
        )
    layer.built = True


class DenseCellMixin(EngineCell):
    """Weights and math of a dense-gated cell (``gates`` blocks of ``units``).

    The Keras class sets ``units``, ``activation``, ``use_bias``, the
    initializers, regularizers and constraints, ``dropout`` and
    ``recurrent_dropout`` (and where it has them ``recurrent_activation``
    and ``implementation``), and defines ``math_activation``.
    """

    gates: ClassVar[int] = 1
    math_class: ClassVar[type[DenseCellMath]]

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def bias_initializer_for_build(self):
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = tf.TensorShape(input_shape)[-1]
        if input_dim is None:
            raise ValueError(
                f"Layer '{self.name}': the last (feature) axis of the input must be "
                f"known, got input shape {input_shape}."
            )
        width = self.gates * self.units
        add_recurrent_weights(
            self,
            kernel_shape=(input_dim, width),
            recurrent_shape=(self.units, width),
            bias_shape=self.bias_shape() if self.use_bias else None,
            bias_initializer=self.bias_initializer_for_build(),
        )

    def weight_tensors(self) -> Weights:
        """kernel, recurrent_kernel and bias (or None), each read once per
        sequence so the loop body reuses one value (and one mixed-precision
        cast) instead of reading the variable at every step."""
        bias = None if self.bias is None else tf.convert_to_tensor(self.bias)
        return tf.convert_to_tensor(self.kernel), tf.convert_to_tensor(self.recurrent_kernel), bias

    # ------------------------------------------------------------- the math
    def math_activation(self, fn: Any) -> Activation:
        """This Keras's activation function ``fn`` as the math sees it."""
        raise NotImplementedError(f"{type(self).__name__} must define math_activation")

    def draw_dropout_masks(
        self, sample: tf.Tensor, rate: float, count: int, training: Any
    ) -> list[tf.Tensor] | None:
        """The dropout masks of one sequence (``tfrnn.cell_math.dense.dropout_masks``)."""
        return dropout_masks(sample, rate, count, training)

    def math_settings(self) -> dict[str, Any]:
        """The settings every dense cell's math takes, from this cell's."""
        recurrent = getattr(self, "recurrent_activation", None)
        return dict(
            units=self.units,
            activation=self.math_activation(self.activation),
            recurrent_activation=None if recurrent is None else self.math_activation(recurrent),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            implementation=getattr(self, "implementation", 2),
            draw_masks=self.draw_dropout_masks,
        )

    def cell_math(self) -> DenseCellMath:
        """This cell's math for its current settings."""
        return self.math_class(**self.math_settings())

    def step_functions(self, step_sample, training=None) -> StepFunctions:
        return self.cell_math().step_functions(self.weight_tensors(), step_sample, training)

    def fused_cell(
        self, weights, input_masks, recurrent_masks, **step_options
    ) -> FusedCell | None:
        """``DenseCellMath.fused_cell`` of this cell's math."""
        return self.cell_math().fused_cell(weights, input_masks, recurrent_masks, **step_options)

    def fused_step(self, **step_options) -> dict[str, Any] | None:
        """``DenseCellMath.fused_step`` of this cell's math."""
        return self.cell_math().fused_step(**step_options)

    def dropout_mask_count(self) -> int:
        """Dropout masks per sequence: one per gate with ``implementation=1``."""
        return self.cell_math().dropout_mask_count()

    def trains_by_hand_gradient(self) -> bool:
        return self.cell_math().trains_by_hand_gradient()


class SimpleRNNCellMixin(DenseCellMixin):
    """A SimpleRNN cell: one gate."""

    gates = 1
    math_class = SimpleRNNMath


class GRUCellMixin(DenseCellMixin):
    """A GRU cell: gates z, r, h; the Keras class also sets ``reset_after``."""

    gates = 3
    math_class = GRUMath

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def cell_math(self) -> GRUMath:
        return GRUMath(**self.math_settings(), reset_after=self.reset_after)


class LSTMCellMixin(DenseCellMixin):
    """An LSTM cell: gates i, f, c, o, states ``[h, c]``; the Keras class also
    sets ``unit_forget_bias``."""

    gates = 4
    math_class = LSTMMath

    @property
    def state_size(self):
        return [self.units, self.units]

    def bias_initializer_for_build(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def forget_bias_one(_, *args, **kwargs):
            """The bias initializer's values, with ones for the forget gate."""
            first = base((units,), *args, **kwargs)
            return tf.concat([first, tf.ones_like(first), base((units * 2,), *args, **kwargs)], 0)

        return forget_bias_one
