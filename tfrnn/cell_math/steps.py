"""How a cell hands the engine its work: ``StepFunctions``, the cells that
split it (``EngineCell``) and any other cell run whole at each step."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf

from tfrnn.engine import bptt
from tfrnn.engine.bptt import FusedCell, scan_with_gradient
from tfrnn.engine.scan import ScanResult, scan


class StepFunctions(NamedTuple):
    """A cell's work for one sequence, split so the engine can hoist a part.

    ``project(inputs)`` maps inputs of any leading shape (``(time, batch, f)``
    for a whole sequence, ``(steps, batch, f)`` for a block of timesteps,
    ``(batch, f)`` for one step) to what ``step`` reads; the engine runs it
    on many timesteps at once. ``step(projected_t, states) -> (output,
    new_states)`` is the recurrent part, run per timestep. ``fused``, when
    set, is the same step split for the engine's hand-written gradient
    (``tfrnn.engine.bptt``). ``output_is_state``: ``step`` returns its
    first new state as its output, the very tensor (``scan``'s
    ``output_is_first_state``).
    """

    project: Callable[[tf.Tensor], Any]
    step: Callable[[Any, list], tuple[Any, list]]
    fused: FusedCell | None = None
    output_is_state: bool = False

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
            output_is_first_state=self.output_is_state,
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


class EngineCell:
    """A cell that hands the engine its work split into projection and step:
    tfrnn's own cells, in either Keras (mixed into each Keras's layer class)."""

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


class CellStack(EngineCell):
    """Cells (``cells``) run as one, each feeding the next: StackedRNNCells,
    in either Keras."""

    cells: list


def cell_output_size(cell: Any):
    """A cell's output size; tf_keras falls back to its first state's size."""
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    state_size = cell.state_size
    return state_size[0] if isinstance(state_size, (list, tuple)) else state_size


def _accepts(fn: Callable, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def cell_takes_constants(cell: Any) -> bool:
    """Whether ``cell`` reads the RNN's ``constants`` at each step."""
    if isinstance(cell, EngineCell):
        return cell.takes_constants()
    return _accepts(cell.call, "constants")


def step_functions_for(
    cell: Any, step_sample: tf.Tensor, training: Any = None, constants: list | None = None
) -> StepFunctions:
    """StepFunctions of any cell: tfrnn cells split projection from the step;
    any other Keras cell (``call(inputs, states[, constants][, training])``)
    runs whole at each step."""
    if isinstance(cell, EngineCell):
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
