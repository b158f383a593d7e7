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
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf
import tf_keras

from tfrnn.cells import ConvLSTMCell, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from tfrnn.cells.base import step_functions_for
from tfrnn.engine.compiled import plain_runs
from tfrnn.engine.scan import ScanResult
from tfrnn.export.fused_lstm import (
    NOT_FUSED_DYNAMIC_BATCH,
    fused_lstm_function,
    fusion_blocker,
)
from tfrnn.export.loop import builtin_scan
from tfrnn.layers.bidirectional import Bidirectional
from tfrnn.layers.conv_lstm import ConvLSTM
from tfrnn.layers.lstm import LSTM
from tfrnn.layers.recurrent_call import state_sizes
from tfrnn.layers.rnn import RNN


def recurrent_layers(model: tf_keras.Model) -> list[RNN]:
    """Every tfrnn recurrent layer that ``model`` runs (Bidirectional halves
    included; the never-called layer a Bidirectional was made from excluded)."""
    templates = {id(m.layer) for m in model.submodules if isinstance(m, Bidirectional)}
    return [m for m in model.submodules if isinstance(m, RNN) and id(m) not in templates]


def check_exportable(model: tf_keras.Model) -> None:
    """Refuse layers whose loop the exporter cannot rewrite, naming them."""
    if not isinstance(model, tf_keras.Model):
        raise TypeError(
            f"tfrnn.export needs a tf_keras Model (Sequential or functional), got {model!r}."
        )
    if not model.built or not model.inputs:
        raise ValueError(
            f"Model '{model.name}' has no defined inputs: build it with tf_keras.Input "
            "(or an input_shape on its first layer) before exporting."
        )
    for layer in model.submodules:
        if isinstance(layer, tf_keras.layers.RNN) and not isinstance(layer, RNN):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__module__}.{type(layer).__name__}) "
                "cannot be exported by tfrnn.export: it is a tf_keras recurrent layer, "
                "whose loop needs Flex ops in TFLite. Replace it with its tfrnn "
                f"twin (tfrnn.{type(layer).__name__}) and copy the weights with "
                "set_weights(get_weights())."
            )


def signature_name(name: str) -> str:
    """A Keras name as a valid signature key."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def input_specs(
    model: tf_keras.Model,
    batch_size: int | None,
    time_steps: list[int | None] | None = None,
) -> list[tf.TensorSpec]:
    """The model's inputs with batch ``batch_size`` (None: dynamic); other
    dims as the model defines them (a None time axis stays dynamic), except
    that ``time_steps`` (one entry per input, None to keep) fixes axis 1."""
    specs = []
    for i, (tensor, name) in enumerate(zip(model.inputs, model.input_names)):
        shape = tensor.shape.as_list()
        if batch_size is not None or not any(r.stateful for r in recurrent_layers(model)):
            shape[0] = batch_size
        if time_steps is not None and time_steps[i] is not None:
            shape[1] = time_steps[i]
        specs.append(tf.TensorSpec(shape, tensor.dtype, name=signature_name(name)))
    return specs


def state_names(layer: RNN) -> list[str]:
    """What a streaming signature calls each of ``layer``'s states (after
    ``<layer>_``): ``h``, and ``c`` for LSTM and ConvLSTM cells; ``cell<k>_h`` ...
    for the k-th cell of a stack; ``state_<i>`` for the states of other cells."""
    count = len(tf.nest.flatten(state_sizes(layer.cell)))
    names = _cell_state_names(layer.cell)
    if names is None or len(names) != count:
        names = [f"state_{i}" for i in range(count)]
    return names


def _cell_state_names(cell) -> list[str] | None:
    if isinstance(cell, (LSTMCell, ConvLSTMCell)):
        return ["h", "c"]
    if isinstance(cell, (GRUCell, SimpleRNNCell)):
        return ["h"]
    if isinstance(cell, StackedRNNCells):
        per_cell = [_cell_state_names(inner) for inner in cell.cells]
        if any(names is None for names in per_cell):
            return None
        prefixed = [[f"cell{k}_{n}" for n in names] for k, names in enumerate(per_cell)]
        if cell.reverse_state_order:
            prefixed.reverse()
        return [name for names in prefixed for name in names]
    return None


def state_specs(model: tf_keras.Model, batch: int | None) -> list[tuple[RNN, list[tf.TensorSpec]]]:
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


def _builtin_run(layer: RNN, inputs, mask, initial_state, training, constants, unroll):
    first = tf.nest.flatten(inputs)[0]
    if unroll and first.shape[0] is None:
        raise ValueError(
            f"Layer '{layer.name}' cannot be unrolled: its input has no static time length."
        )
    fns = step_functions_for(layer.cell, first[0], training, constants)
    batch = tf.shape(first)[1]
    if isinstance(layer, ConvLSTM):
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


def _fused_run(layer: LSTM, inputs, initial_state):
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
    model: tf_keras.Model,
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

    for wrapper in model.submodules:
        if isinstance(wrapper, Bidirectional):
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
            if fuse_lstm and type(layer) is LSTM:
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


def serving_function(model: tf_keras.Model, output_names: list[str]):
    """``f(*inputs) -> {output name: tensor}``: the model at inference."""

    def serve(*inputs):
        outputs = model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)
        return dict(zip(output_names, tf.nest.flatten(outputs)))

    return serve


def output_names(model: tf_keras.Model) -> list[str]:
    return [signature_name(name) for name in model.output_names]


def trace(
    model: tf_keras.Model,
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
