"""What every tfrnn cell shares: the two-part step protocol, dropout masks,
argument checks and the Keras plumbing of dense-gated cells."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf
import tf_keras
from tf_keras import activations, constraints, initializers, regularizers

from tfrnn.engine import bptt
from tfrnn.engine.bptt import FusedCell, scan_with_gradient
from tfrnn.engine.scan import ScanResult, scan
from tfrnn.two_kerases import refuse_keras3_arguments, refuse_keras3_caller


class StepFunctions(NamedTuple):
    """A cell's work for one sequence, split so the engine can hoist a part.

    ``project(inputs)`` maps inputs of any leading shape (``(time, batch, f)``
    for a whole sequence, ``(steps, batch, f)`` for a block of timesteps,
    ``(batch, f)`` for one step) to what ``step`` reads; the engine runs it
    on many timesteps at once. ``step(projected_t, states) -> (output,
    new_states)`` is the recurrent part, run per timestep. ``fused``, when
    set, is the same step split for the engine's hand-written gradient
    (``tfrnn.engine.bptt``).
    """

    project: Callable[[tf.Tensor], Any]
    step: Callable[[Any, list], tuple[Any, list]]
    fused: FusedCell | None = None

    def run(
        self,
        inputs: Any,
        initial_states: Any,
        initial_output: Any,
        *,
        hand_gradient: bool,
        unroll: bool = False,
        **options: Any,
    ) -> ScanResult:
        """The engine over time-major ``inputs``: ``scan``, or with
        ``hand_gradient`` (training) ``scan_with_gradient`` where the step has
        a ``fused`` form and is not unrolled. ``options``: ``mask``,
        ``go_backwards``, ``zero_output_for_mask``, ``return_all_outputs``."""
        if hand_gradient and self.fused is not None and not unroll and bptt.applies_here():
            return scan_with_gradient(
                self.fused,
                inputs,
                tf.nest.flatten(initial_states),
                project=self.project,
                **options,
            )
        returned = []  # the structure of what the step returned, seen as it is traced

        def step(projected, states, *extra):
            output, new_states = self.step(projected, states, *extra)
            returned.append(tf.nest.map_structure(lambda _: None, output))
            return output, new_states

        result = scan(
            step,
            inputs,
            initial_states,
            initial_output,
            unroll=unroll,
            time_major=True,
            project=self.project,
            **options,
        )
        return _with_output_structure(result, returned[0]) if returned else result


def _with_output_structure(result: ScanResult, structure: Any) -> ScanResult:
    """``result`` with its outputs in ``structure`` (as tf_keras returns a
    cell's nested output: a list where the cell's call returned a list)."""
    if not tf.nest.is_nested(structure):
        return result

    def pack(value):
        return (
            None if value is None else tf.nest.pack_sequence_as(structure, tf.nest.flatten(value))
        )

    return result._replace(last_output=pack(result.last_output), outputs=pack(result.outputs))


def _sigmoid_grad(y):
    return y * (1.0 - y)


def _tanh_grad(y):
    return 1.0 - y * y


def _hard_sigmoid_grad(y):
    inside = tf.logical_and(y > 0.0, y < 1.0)
    return tf.where(inside, tf.constant(0.2, y.dtype), tf.zeros_like(y))


def _relu_grad(y):
    return tf.cast(y > 0.0, y.dtype)


def _linear_grad(y):
    return tf.ones_like(y)


_DERIVATIVES = (
    ((activations.tanh, tf.tanh, tf.math.tanh, tf.nn.tanh), _tanh_grad),
    ((activations.sigmoid, tf.sigmoid, tf.math.sigmoid, tf.nn.sigmoid), _sigmoid_grad),
    ((activations.hard_sigmoid,), _hard_sigmoid_grad),
    ((activations.relu, tf.nn.relu), _relu_grad),
    ((activations.linear,), _linear_grad),
)


def derivative_from_output(fn: Callable) -> Callable | None:
    """``y -> f'(x)`` for an activation ``y = f(x)`` whose derivative its
    output gives (tanh, sigmoid, Keras 2's hard_sigmoid, relu, linear);
    None for any other."""
    for functions, derivative in _DERIVATIVES:
        if any(fn is f for f in functions):
            return derivative
    return None


def check_units(layer_name: str, units: Any, what: str = "units") -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            f"Layer '{layer_name}': `{what}` must be a positive integer, got {units!r}."
        )
    return units


def check_rate(layer_name: str, rate: Any, what: str) -> float:
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise TypeError(
            f"Layer '{layer_name}': `{what}` must be a float in [0, 1), got {rate!r}."
        ) from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Layer '{layer_name}': `{what}` must be in [0, 1), got {rate!r}.")
    return value


def get_activation(layer_name: str, identifier: Any, what: str) -> Callable:
    try:
        return activations.get(identifier)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"Layer '{layer_name}': unknown `{what}` {identifier!r}. Use a tf_keras "
            "activation name such as 'tanh', 'sigmoid', 'hard_sigmoid', 'relu' or "
            "'linear', or a callable."
        ) from err


def check_cell(owner: str, cell: Any) -> None:
    """A cell has ``call`` and ``state_size``; ``owner`` names the layer for the error.

    A name in place of a cell is what tf_keras's deserializer returns for a
    cell class it does not know (a model saved with a custom cell, loaded
    without it).
    """
    if isinstance(cell, str):
        raise ValueError(
            f"{owner}: the cell class {cell!r} in its config is unknown. Register the "
            "class (decorate it with @tf_keras.saving.register_keras_serializable()) "
            f"or pass custom_objects={{{cell!r}: {cell}}} when loading."
        )
    if "call" not in dir(cell) or "state_size" not in dir(cell):
        raise ValueError(
            f"{owner}: a cell must have a `call` method and a `state_size` attribute; "
            f"got {cell!r}."
        )


def dropout_masks(
    sample: tf.Tensor, rate: float, count: int, training: Any
) -> list[tf.Tensor] | None:
    """``count`` inverted-dropout masks shaped like ``sample``; None if unused.

    One mask set is drawn per sequence and reused at every timestep. Outside
    training the masks are all ones, so callers skip them (return None) when
    ``training`` is statically False or the rate is zero.
    """
    if rate <= 0.0 or training is False or training is None:
        return None
    ones = tf.ones_like(sample)

    def dropped():
        return [tf.nn.dropout(ones, rate=rate) for _ in range(count)]

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


def _has_one_state(cell: Any) -> bool:
    return not isinstance(cell.state_size, (list, tuple))


class RecurrentCell(tf_keras.layers.Layer):
    """Base of tfrnn cells: a Keras cell (``call(inputs, states)``) that can
    also hand the engine its work split into projection and step."""

    def __init__(self, force_generator: bool = False, **kwargs: Any) -> None:
        """``force_generator`` is accepted (not serialized) as tf_keras's cells
        accept it: there it picks tf_keras's random-number generator, here
        dropout masks are drawn by ``tf.nn.dropout`` either way."""
        super().__init__(**kwargs)
        self.force_generator = bool(force_generator)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        refuse_keras3_arguments(self, inputs=args, **kwargs)
        return super().__call__(*args, **kwargs)

    def step_functions(self, step_sample: tf.Tensor, training: Any = None) -> StepFunctions:
        """The projection and step closures for one sequence.

        ``step_sample`` is one timestep of input, ``(batch, ...)``; it fixes
        the shapes of the dropout masks, which are drawn here, once.
        """
        raise NotImplementedError(f"{type(self).__name__} must define step_functions")

    def takes_constants(self) -> bool:
        """Whether ``step_functions`` reads ``constants`` (a keyword argument
        it then accepts); no single built-in cell does."""
        return False

    def trains_by_hand_gradient(self) -> bool:
        """Whether a training run differentiates by the engine's hand-written
        gradient (``tfrnn.engine.bptt``) instead of automatic differentiation."""
        return False

    def call(self, inputs, states, training=None):
        """One step. As in tf_keras, a cell with one state given it as a tensor
        (not a list) returns its new state as a tensor."""
        fns = self.step_functions(inputs, training)
        output, new_states = fns.step(fns.project(inputs), list(tf.nest.flatten(states)))
        if _has_one_state(self) and not tf.nest.is_nested(states):
            return output, new_states[0]
        return output, new_states

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """Zero states: a list, or one tensor for a cell with one state (tf_keras)."""
        if inputs is not None:
            batch_size = tf.shape(inputs)[0]
            dtype = inputs.dtype
        if dtype is None and batch_size is not None:
            refuse_keras3_caller(self, "get_initial_state was given `batch_size` alone")
        if batch_size is None or dtype is None:
            raise ValueError(
                f"Layer '{self.name}': get_initial_state needs `inputs`, or both "
                f"`batch_size` and `dtype`; got batch_size={batch_size}, dtype={dtype}."
            )
        sizes = [self.state_size] if _has_one_state(self) else self.state_size
        zeros = [
            tf.zeros(tf.concat([[batch_size], tf.TensorShape(s).as_list()], 0), dtype=dtype)
            for s in sizes
        ]
        return zeros[0] if _has_one_state(self) else zeros


class DenseGatedCell(RecurrentCell):
    """Shared constructor, weights and config of SimpleRNN/GRU/LSTM cells.

    A subclass sets ``gates`` (1, 3 or 4) and writes ``step_functions``.
    """

    gates = 1

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
        enable_caching_device: bool = True,
        **kwargs: Any,
    ) -> None:
        """``enable_caching_device`` is accepted for tf_keras compatibility: the
        engine reads each weight once per sequence already."""
        super().__init__(**kwargs)
        self.enable_caching_device = bool(enable_caching_device)
        self.units = check_units(self.name, units)
        self.activation = get_activation(self.name, activation, "activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate(self.name, dropout, "dropout")
        self.recurrent_dropout = check_rate(self.name, recurrent_dropout, "recurrent_dropout")

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
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.bias_initializer_for_build(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.built = True

    def weight_tensors(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
        """kernel, recurrent_kernel and bias (or None), each read once per
        sequence so the loop body reuses one value (and one mixed-precision
        cast) instead of reading the variable at every step."""
        bias = None if self.bias is None else tf.convert_to_tensor(self.bias)
        return tf.convert_to_tensor(self.kernel), tf.convert_to_tensor(self.recurrent_kernel), bias

    def fused_cell(
        self, weights, input_masks, recurrent_masks, **step_options
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

    def fused_step(self, **step_options) -> dict[str, Any] | None:
        """The cell-specific ``FusedCell`` fields (``forward``, ``backward``,
        ``saved_sizes``, ...), or None: the step keeps automatic gradients."""
        return None

    def dropout_mask_count(self) -> int:
        """Dropout masks per sequence: one per gate with ``implementation=1``."""
        return self.gates if getattr(self, "implementation", 2) == 1 else 1

    def trains_by_hand_gradient(self) -> bool:
        """Whether a training run differentiates by the engine's hand-written
        gradient (``fused_cell`` gives a FusedCell)."""
        if self.recurrent_dropout > 0.0 and self.dropout_mask_count() > 1:
            return False
        return self.fused_step() is not None

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        if not self.enable_caching_device:  # tf_keras writes only the non-default
            config["enable_caching_device"] = False
        return {**super().get_config(), **config}


def _accepts(fn: Callable, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def cell_takes_constants(cell: Any) -> bool:
    """Whether ``cell`` reads the RNN's ``constants`` at each step."""
    if isinstance(cell, RecurrentCell):
        return cell.takes_constants()
    return _accepts(cell.call, "constants")


def step_functions_for(
    cell: Any, step_sample: tf.Tensor, training: Any = None, constants: list | None = None
) -> StepFunctions:
    """StepFunctions of any cell: tfrnn cells split projection from the step;
    any other Keras cell (``call(inputs, states[, constants][, training])``)
    runs whole at each step."""
    if isinstance(cell, RecurrentCell):
        if not constants:
            return cell.step_functions(step_sample, training)
        if not cell.takes_constants():
            raise ValueError(
                f"Cell '{cell.name}' ({type(cell).__name__}) takes no `constants`; pass "
                "constants only to an RNN whose cell's call accepts them."
            )
        return cell.step_functions(step_sample, training, constants=constants)
    call = cell.call
    kwargs = {}
    if _accepts(call, "training"):
        kwargs["training"] = training
    if constants:
        if not _accepts(call, "constants"):
            raise ValueError(
                f"Cell {getattr(cell, 'name', cell)!r} does not accept `constants` (its "
                "call has no `constants` argument)."
            )
        kwargs["constants"] = constants
    run = cell.__call__ if callable(cell) else call

    def step(inputs, states):
        output, new_states = run(inputs, states, **kwargs)
        if not tf.nest.is_nested(new_states):
            new_states = [new_states]
        return output, new_states

    return StepFunctions(lambda inputs: inputs, step)
