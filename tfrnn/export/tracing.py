"""Tracing a Keras model into the functions an artifact serves.

Export never changes the model's classes or weights. While a serving
function is traced, each tfrnn recurrent layer's sequence computation (its
``_run_sequence`` hook) is swapped, on that instance only, for what the
artifact needs: the TFLite builtin loop, the fused LSTM function, or the
layer's own computation fed with explicit states (streaming). The swap is
undone when tracing ends.
"""

from __future__ import annotations

import contextlib
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from tfrnn.cell_math.steps import CellStack, step_functions_for
from tfrnn.cells.conv_cells import ConvLSTMCellMixin
from tfrnn.cells.dense_cells import GRUCellMixin, LSTMCellMixin, SimpleRNNCellMixin
from tfrnn.engine.compiled import plain_runs
from tfrnn.engine.scan import ScanResult
from tfrnn.export.fused_lstm import (
    NOT_FUSED_DYNAMIC_BATCH,
    fused_lstm_function,
    fusion_blocker,
)
from tfrnn.export.keras_models import (
    KerasModel,
    all_layers,
    foreign_recurrent_classes,
    has_inputs,
    input_dtype,
    input_names,
    input_shape,
    is_keras3_model,
    is_keras_model,
)
from tfrnn.export.keras_models import output_names as model_output_names
from tfrnn.export.loop import builtin_scan
from tfrnn.layers import lstm
from tfrnn.layers.bidirectional_call import BidirectionalCall
from tfrnn.layers.conv_layer_mixin import ConvLSTMLayerMixin
from tfrnn.layers.recurrent_call import RecurrentCall, state_sizes

#: the modules whose ``LSTM`` class may become TFLite's fused kernel (the
#: Keras 3 one only once loaded: a model can hold it only then)
FUSABLE_LSTM_MODULES = (lstm.__name__, "tfrnn.keras3.layers")


def recurrent_layers(model: KerasModel) -> list[RecurrentCall]:
    """Every tfrnn recurrent layer that ``model`` runs (Bidirectional halves
    included; the never-called layer a Bidirectional was made from excluded)."""
    layers = all_layers(model)
    templates = {id(getattr(m, "layer", None)) for m in layers if hasattr(m, "forward_layer")}
    return [m for m in layers if isinstance(m, RecurrentCall) and id(m) not in templates]


def _is_fusable_lstm(layer) -> bool:
    """``layer`` is a plain tfrnn LSTM (either Keras's), not a subclass."""
    modules = (sys.modules.get(name) for name in FUSABLE_LSTM_MODULES)
    return any(type(layer) is getattr(module, "LSTM", None) for module in modules if module)


def check_exportable(model: KerasModel) -> None:
    """Refuse layers whose loop the exporter cannot rewrite, naming them."""
    if not is_keras_model(model):
        raise TypeError(
            "tfrnn.export needs a tf_keras Model of tfrnn layers or a Keras 3 Model of "
            f"tfrnn.keras3 layers (Sequential or functional), got {model!r}."
        )
    if not has_inputs(model):
        keras_input = "keras.Input" if is_keras3_model(model) else "tf_keras.Input"
        raise ValueError(
            f"Model '{model.name}' has no defined inputs: build it with {keras_input} "
            "(or an input_shape on its first layer) before exporting."
        )
    foreign = foreign_recurrent_classes()
    for layer in all_layers(model):
        twin = next((package for cls, package in foreign if isinstance(layer, cls)), None)
        if twin is not None and not isinstance(layer, RecurrentCall):
            keras = "Keras 3" if twin == "tfrnn.keras3" else "tf_keras"
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__module__}.{type(layer).__name__}) "
                f"cannot be exported by tfrnn.export: it is a {keras} recurrent layer, "
                "whose loop needs Flex ops in TFLite. Replace it with its tfrnn "
                f"twin ({twin}.{type(layer).__name__}) and copy the weights with "
                "set_weights(get_weights())."
            )


def signature_name(name: str) -> str:
    """A Keras name as a valid signature key."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def input_specs(
    model: KerasModel,
    batch_size: int | None,
    time_steps: list[int | None] | None = None,
) -> list[tf.TensorSpec]:
    """The model's inputs with batch ``batch_size`` (None: dynamic); other
    dims as the model defines them (a None time axis stays dynamic), except
    that ``time_steps`` (one entry per input, None to keep) fixes axis 1."""
    specs = []
    for i, (tensor, name) in enumerate(zip(model.inputs, input_names(model))):
        shape = input_shape(tensor)
        if batch_size is not None or not any(r.stateful for r in recurrent_layers(model)):
            shape[0] = batch_size
        if time_steps is not None and time_steps[i] is not None:
            shape[1] = time_steps[i]
        specs.append(tf.TensorSpec(shape, input_dtype(tensor), name=signature_name(name)))
    return specs


def state_names(layer: RecurrentCall) -> list[str]:
    """What a streaming signature calls each of ``layer``'s states (after
    ``<layer>_``): ``h``, and ``c`` for LSTM and ConvLSTM cells; ``cell<k>_h`` ...
    for the k-th cell of a stack; ``state_<i>`` for the states of other cells."""
    count = len(tf.nest.flatten(state_sizes(layer.cell)))
    names = _cell_state_names(layer.cell)
    if names is None or len(names) != count:
        names = [f"state_{i}" for i in range(count)]
    return names


def _cell_state_names(cell) -> list[str] | None:
    if isinstance(cell, (LSTMCellMixin, ConvLSTMCellMixin)):
        return ["h", "c"]
    if isinstance(cell, (GRUCellMixin, SimpleRNNCellMixin)):
        return ["h"]
    if isinstance(cell, CellStack):
        per_cell = [_cell_state_names(inner) for inner in cell.cells]
        if any(names is None for names in per_cell):
            return None
        prefixed = [[f"cell{k}_{n}" for n in names] for k, names in enumerate(per_cell)]
        if cell.reverse_state_order:
            prefixed.reverse()
        return [name for names in prefixed for name in names]
    return None


def state_specs(
    model: KerasModel, batch: int | None
) -> list[tuple[RecurrentCall, list[tf.TensorSpec]]]:
    """Each recurrent layer with the specs of its states (named
    ``<layer>_<state>``, see ``state_names``), for streaming."""
    plan = []
    for layer in recurrent_layers(model):
        if layer.go_backwards:
            raise ValueError(
                f"Layer '{layer.name}' runs backwards (go_backwards=True, or the backward "
                "half of a Bidirectional), so it cannot be streamed chunk by chunk: "
                "export it with streaming=False."
            )
        layer_batch = getattr(layer, "_stateful_batch", None) if layer.stateful else batch
        sizes = tf.nest.flatten(state_sizes(layer.cell))
        plan.append(
            (
                layer,
                [
                    tf.TensorSpec(
                        [layer_batch, *tf.TensorShape(size).as_list()],
                        layer.dtype,
                        name=signature_name(f"{layer.name}_{state}"),
                    )
                    for state, size in zip(state_names(layer), sizes)
                ],
            )
        )
    return plan


@dataclass
class TraceRecord:
    """What happened to the recurrent layers during a trace."""

    fused: list[str] = field(default_factory=list)
    not_fused: dict[str, str] = field(default_factory=dict)
    states: dict[str, list[tf.Tensor]] = field(default_factory=dict)


def _builtin_run(layer: RecurrentCall, inputs, mask, initial_state, training, constants, unroll):
    first = tf.nest.flatten(inputs)[0]
    if unroll and first.shape[0] is None:
        raise ValueError(
            f"Layer '{layer.name}' cannot be unrolled: its input has no static time length."
        )
    fns = step_functions_for(layer.cell, first[0], training, constants)
    batch = tf.shape(first)[1]
    if isinstance(layer, ConvLSTMLayerMixin):
        initial_output = tf.zeros_like(tf.nest.flatten(initial_state)[0])
    else:
        initial_output = tf.nest.map_structure(
            lambda size: tf.zeros(
                tf.concat([[batch], tf.TensorShape(size).as_list()], 0), first.dtype
            ),
            layer._output_sizes(),
        )
    return builtin_scan(
        fns.step,
        fns.project(inputs),
        initial_state,
        initial_output,
        mask=mask,
        go_backwards=layer.go_backwards,
        zero_output_for_mask=layer.zero_output_for_mask,
        return_all_outputs=layer.return_sequences,
        unroll=unroll,
    )


def _fused_run(layer: RecurrentCall, inputs, initial_state):
    cell = layer.cell
    h0, c0 = tf.nest.flatten(initial_state)
    last, outputs, h, c, _ = fused_lstm_function(layer.go_backwards)(
        inputs,
        h0,
        c0,
        tf.convert_to_tensor(cell.kernel),
        tf.convert_to_tensor(cell.recurrent_kernel),
        tf.convert_to_tensor(cell.bias),
    )
    return ScanResult(last, outputs if layer.return_sequences else None, [h, c])


@contextlib.contextmanager
def traced_as(
    model: KerasModel,
    *,
    builtin_loops: bool,
    fuse_lstm: bool = False,
    state_feed: dict[str, list[tf.Tensor]] | None = None,
    unroll: bool = False,
):
    """Within this context the model's recurrent layers trace as an artifact needs.

    builtin_loops: use the TensorArray-free loop (TFLite); the layer's own
      computation (cuDNN selection included) is not traced.
    fuse_lstm: eligible LSTM layers call the fusable function instead.
    state_feed: layer name -> state tensors, used instead of the layer's
      initial (or stateful) state; the final states land in the record.
    unroll: builtin loops are unrolled over their static time length
      (no WHILE op); fused LSTM layers stay fused.
    """
    record = TraceRecord()
    restore: list[tuple[Any, str, Any]] = []

    def set_attr(obj, name, value):
        if isinstance(getattr(type(obj), name, None), property):
            restore.append((obj, name, getattr(obj, name)))
            setattr(obj, name, value)
        else:
            restore.append((obj, name, obj.__dict__.get(name, _MISSING)))
            object.__setattr__(obj, name, value)

    for wrapper in all_layers(model):
        if isinstance(wrapper, BidirectionalCall):
            set_attr(wrapper, "_fuse_halves", False)  # each half is swapped below
    for layer in recurrent_layers(model):
        zero_states: list[tf.Tensor] = []
        if state_feed is not None and layer.stateful:
            set_attr(layer, "stateful", False)
        default_initial_state = type(layer).get_initial_state.__get__(layer)

        def get_initial_state(inputs, default=default_initial_state, zero_states=zero_states):
            states = default(inputs)
            zero_states[:] = tf.nest.flatten(states)
            return states

        set_attr(layer, "get_initial_state", get_initial_state)
        original = type(layer)._run_sequence.__get__(layer)

        def run(
            inputs,
            mask,
            initial_state,
            training,
            constants,
            layer=layer,
            original=original,
            zero_states=zero_states,
        ):
            if state_feed is not None:
                initial_state = tf.nest.pack_sequence_as(initial_state, state_feed[layer.name])
            result = None
            if fuse_lstm and _is_fusable_lstm(layer):
                reason = fusion_blocker(layer)
                if reason is None and mask is not None:
                    reason = "it receives a mask"
                if reason is None and (
                    state_feed is not None
                    or any(a is not b for a, b in zip(tf.nest.flatten(initial_state), zero_states))
                ):
                    reason = "it receives initial states"
                if reason is None and tf.nest.flatten(inputs)[0].shape[1] is None:
                    reason = NOT_FUSED_DYNAMIC_BATCH
                if reason is None:
                    result = _fused_run(layer, inputs, initial_state)
                    record.fused.append(layer.name)
                else:
                    record.not_fused[layer.name] = reason
            if result is None:
                if builtin_loops:
                    result = _builtin_run(
                        layer, inputs, mask, initial_state, training, constants, unroll
                    )
                else:
                    result = original(inputs, mask, initial_state, training, constants)
            if state_feed is not None:
                record.states[layer.name] = tf.nest.flatten(result.states)
            return result

        set_attr(layer, "_run_sequence", run)
    try:
        with plain_runs():  # an artifact holds no XLA-compiled functions
            yield record
    finally:
        for obj, name, old in reversed(restore):
            if old is _MISSING:
                object.__delattr__(obj, name)
            elif isinstance(getattr(type(obj), name, None), property):
                setattr(obj, name, old)
            else:
                object.__setattr__(obj, name, old)


_MISSING = object()


def serving_function(model: KerasModel, output_names: list[str]):
    """``f(*inputs) -> {output name: tensor}``: the model at inference."""

    def serve(*inputs):
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        return dict(zip(output_names, tf.nest.flatten(outputs)))

    return serve


def output_names(model: KerasModel) -> list[str]:
    return [signature_name(name) for name in model_output_names(model)]


def trace(
    model: KerasModel,
    *,
    batch_size: int | None,
    streaming: bool,
    builtin_loops: bool,
    fuse_lstm: bool = False,
    unroll: bool = False,
    time_steps: list[int | None] | None = None,
) -> tuple[Any, TraceRecord]:
    """The concrete serving function of ``model`` and what its trace did.

    Streaming functions take the model's inputs then every recurrent
    layer's states (``<layer>_h``, ``<layer>_c``: see ``state_names``) and return the outputs then the
    new states under the same names. ``time_steps`` fixes the inputs' time
    axes (see ``input_specs``); ``unroll`` unrolls the builtin loops over
    them (see ``traced_as``).
    """
    names = output_names(model)
    specs = input_specs(model, batch_size, time_steps)
    if not streaming:
        with traced_as(
            model, builtin_loops=builtin_loops, fuse_lstm=fuse_lstm, unroll=unroll
        ) as record:
            fn = tf.function(serving_function(model, names), input_signature=specs)
            return fn.get_concrete_function(), record
    plan = state_specs(model, specs[0].shape[0])
    feed: dict[str, list[tf.Tensor]] = {}
    n_inputs = len(specs)
    with traced_as(model, builtin_loops=builtin_loops, state_feed=feed, unroll=unroll) as record:

        def serve_chunk(*args):
            inputs, states = args[:n_inputs], list(args[n_inputs:])
            for layer, layer_specs in plan:
                feed[layer.name], states = states[: len(layer_specs)], states[len(layer_specs) :]
            outputs = model(list(inputs) if n_inputs > 1 else inputs[0], training=False)
            outputs = dict(zip(names, tf.nest.flatten(outputs)))
            for layer, layer_specs in plan:
                for spec, state in zip(layer_specs, record.states[layer.name]):
                    outputs[spec.name] = state
            return outputs

        all_specs = specs + [s for _, layer_specs in plan for s in layer_specs]
        fn = tf.function(serve_chunk, input_signature=all_specs)
        return fn.get_concrete_function(), record
