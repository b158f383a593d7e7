"""What the dense-gated cells' math shares: settings, dropout masks, the
input projection and the step's form for the hand-written gradient."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import tensorflow as tf

from tfrnn.cell_math.activations import Activation
from tfrnn.cell_math.steps import StepFunctions
from tfrnn.engine.bptt import FusedCell

#: ``(sample, rate, count, training) -> masks or None``, as ``dropout_masks``
MaskDrawer = Callable[[tf.Tensor, float, int, Any], "list[tf.Tensor] | None"]
#: kernel, recurrent kernel and bias (or None), as a cell reads its weights
Weights = tuple[tf.Tensor, tf.Tensor, "tf.Tensor | None"]


def dropout_masks(
    sample: tf.Tensor,
    rate: float,
    count: int,
    training: Any,
    drop: Callable[[tf.Tensor, float], tf.Tensor] | None = None,
) -> list[tf.Tensor] | None:
    """``count`` inverted-dropout masks shaped like ``sample``; None if unused.

    One mask set is drawn per sequence and reused at every timestep. Outside
    training the masks are all ones, so callers skip them (return None) when
    ``training`` is statically False or the rate is zero. ``drop(ones,
    rate)`` draws one mask (``tf.nn.dropout`` unless given).
    """
    if rate <= 0.0 or training is False or training is None:
        return None
    ones = tf.ones_like(sample)
    drop = drop or (lambda x, rate: tf.nn.dropout(x, rate=rate))

    def dropped():
        return [drop(ones, rate) for _ in range(count)]

    if training is True:
        return dropped()
    return tf.__internal__.smart_cond.smart_cond(training, dropped, lambda: [ones] * count)


def project_dense(inputs: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None) -> tf.Tensor:
    """``inputs @ kernel + bias`` over any leading shape, as one GEMM."""
    flat = inputs if inputs.shape.rank == 2 else tf.reshape(inputs, [-1, tf.shape(inputs)[-1]])
    out = tf.matmul(flat, kernel)
    if bias is not None:  # next to the matmul, so grappler fuses the two
        out = tf.nn.bias_add(out, bias)
    if inputs.shape.rank == 2:
        return out
    return tf.reshape(out, tf.concat([tf.shape(inputs)[:-1], tf.shape(kernel)[-1:]], axis=0))


def masked_projection(inputs, kernel, bias, masks, gates):
    """Input projection with per-gate (or one shared) dropout masks applied."""
    if masks is None:
        return project_dense(inputs, kernel, bias)
    if len(masks) == 1:
        return project_dense(inputs * masks[0], kernel, bias)
    parts = [
        project_dense(inputs * mask, k, None)
        for mask, k in zip(masks, tf.split(kernel, gates, axis=1))
    ]
    out = tf.concat(parts, axis=-1)
    return out if bias is None else tf.nn.bias_add(out, bias)


def recurrent_product(state, recurrent_kernel, masks, gates):
    """``state @ recurrent_kernel`` with per-gate (or one) recurrent dropout masks."""
    if masks is None:
        return tf.matmul(state, recurrent_kernel)
    if len(masks) == 1:
        return tf.matmul(state * masks[0], recurrent_kernel)
    return tf.concat(
        [
            tf.matmul(state * m, k)
            for m, k in zip(masks, tf.split(recurrent_kernel, gates, axis=1))
        ],
        axis=-1,
    )


@dataclass(frozen=True)
class DenseCellMath:
    """A dense-gated cell's math (``gates`` blocks of ``units`` columns in the
    kernels) for one configuration. A subclass writes ``step_functions`` and,
    where it has one, ``fused_step``.

    ``implementation`` 1 draws a dropout mask per gate, 2 one for all gates;
    ``draw_masks`` draws them (``dropout_masks`` unless a Keras draws its own).
    """

    gates: ClassVar[int] = 1

    units: int
    activation: Activation
    recurrent_activation: Activation | None = None
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    implementation: int = 2
    draw_masks: MaskDrawer = dropout_masks

    def step_functions(
        self, weights: Weights, step_sample: tf.Tensor, training: Any = None
    ) -> StepFunctions:
        """The projection and step for one sequence, reading ``weights``;
        ``step_sample`` (one timestep, ``(batch, features)``) shapes the
        dropout masks, drawn here once."""
        raise NotImplementedError(f"{type(self).__name__} must define step_functions")

    def dropout_mask_count(self) -> int:
        """Dropout masks per sequence: one per gate with ``implementation=1``."""
        return self.gates if self.implementation == 1 else 1

    def masks(self, step_sample: tf.Tensor, training: Any) -> tuple[list | None, list | None]:
        """The input and recurrent dropout masks for one sequence (None where unused)."""
        count = self.dropout_mask_count()
        input_masks = self.draw_masks(step_sample, self.dropout, count, training)
        recurrent_masks = None
        if self.recurrent_dropout > 0.0:
            zeros = tf.zeros([tf.shape(step_sample)[0], self.units], step_sample.dtype)
            recurrent_masks = self.draw_masks(zeros, self.recurrent_dropout, count, training)
        return input_masks, recurrent_masks

    def fused_step(self, **step_options: Any) -> dict[str, Any] | None:
        """The cell-specific ``FusedCell`` fields (``forward``, ``backward``,
        ``saved_sizes``, ...), or None: the step keeps automatic gradients."""
        return None

    def fused_cell(
        self,
        weights: tuple[tf.Tensor, tf.Tensor | None, tf.Tensor],
        input_masks: Sequence[tf.Tensor] | None,
        recurrent_masks: Sequence[tf.Tensor] | None,
        **step_options: Any,
    ) -> FusedCell | None:
        """This cell's step for the engine's hand-written gradient, or None
        where it has none: ``weights`` is (kernel, bias, recurrent_kernel) as
        the step reads them, the masks its dropout masks, ``step_options``
        what ``fused_step`` takes. Recurrent dropout must use one mask."""
        if recurrent_masks and len(recurrent_masks) > 1:
            return None
        parts = self.fused_step(**step_options)
        if parts is None:
            return None
        kernel, bias, recurrent_kernel = weights
        return FusedCell(
            gates=self.gates,
            kernel=kernel,
            bias=bias,
            recurrent_kernel=recurrent_kernel,
            input_masks=input_masks,
            operand_mask=recurrent_masks[0] if recurrent_masks else None,
            **parts,
        )

    def trains_by_hand_gradient(self) -> bool:
        """Whether a training run differentiates by the engine's hand-written
        gradient (``fused_cell`` gives a FusedCell)."""
        if self.recurrent_dropout > 0.0 and self.dropout_mask_count() > 1:
            return False
        return self.fused_step() is not None
