"""TFLite export: builtin ops only, dynamic batch and time, fused LSTMs
where TFLite's kernel represents them, streaming and quantization."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from tfrnn.export.atomic import atomic_output
from tfrnn.export.keras_models import KerasModel, all_layers, input_names, tf_variables
from tfrnn.export.requantize import add_missing_requantizes
from tfrnn.export.signatures import SERVING, STREAMING, renamed_tflite_signature
from tfrnn.export.tracing import (
    check_exportable,
    input_specs,
    recurrent_layers,
    state_specs,
    trace,
)

QUANTIZE_MODES = (None, "float16", "dynamic", "int8")
CLIP_TOLERANCE = 1e-4
#: TFLite's dynamic-range quantization leaves smaller weight tensors in float32
DYNAMIC_MIN_ELEMENTS = 1024
FUSED_STATE_NOTE = (
    "the fused LSTM layers keep their state between invocations: call "
    "interpreter.reset_all_variables() before each run (run_tflite does)"
)
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


@dataclass
class TFLiteReport:
    """What ``export_tflite`` wrote and how well it agrees with the model.

    ``max_abs_diff`` compares the artifact with the model on the check input
    (the first representative sample, else a random batch). For a quantized
    artifact, ``float32_size_bytes`` and ``float32_max_abs_diff`` describe
    the same function converted without quantization, so the change in size
    and accuracy is the difference, and ``default_float32_size_bytes`` the
    artifact ``quantize=None`` writes: for int8 with unrolled loops, the float32
    artifact that keeps its loops, which is often smaller than the int8 one.
    ``unrolled_layers`` lists the layers whose loop was unrolled for int8, and
    ``time_steps`` the time length this fixed for each input (by name) whose
    time axis was dynamic. ``signature`` is the signature's name:
    ``serving_default``, or ``streaming`` (as in a streaming SavedModel).
    """

    path: str
    size_bytes: int
    ops: list[str]
    fused_layers: list[str]
    not_fused: dict[str, str]
    max_abs_diff: float
    inputs: list[str]
    outputs: list[str]
    quantize: str | None = None
    float32_size_bytes: int | None = None
    float32_max_abs_diff: float | None = None
    unrolled_layers: list[str] = field(default_factory=list)
    time_steps: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    signature: str = SERVING
    default_float32_size_bytes: int | None = None

    def __str__(self) -> str:
        lines = [
            f"wrote {self.path} ({self.size_bytes:,} bytes)",
            f"signature {self.signature}: inputs {', '.join(self.inputs)}; "
            f"outputs {', '.join(self.outputs)}",
            f"ops: {', '.join(self.ops)}",
            f"fused LSTM layers: {', '.join(self.fused_layers) or 'none'}",
        ]
        if self.fused_layers:
            lines.append(f"note: {FUSED_STATE_NOTE}")
        lines += [f"not fused: {name} ({why})" for name, why in self.not_fused.items()]
        if self.unrolled_layers:
            fixed = ", ".join(f"{name}={steps}" for name, steps in self.time_steps.items())
            lines.append(
                f"unrolled for int8: {', '.join(self.unrolled_layers)}; time length fixed "
                + (f"at {fixed}" if fixed else "by the model")
            )
        lines.append(f"max abs diff vs the model: {self.max_abs_diff:.3g}")
        if self.quantize:
            lines += self._quantization_lines()
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _quantization_lines(self) -> list[str]:
        float32 = "float32 unrolled the same way" if self.unrolled_layers else "float32"
        lines = [
            f"quantize={self.quantize}: {self.float32_size_bytes:,} -> {self.size_bytes:,} "
            f"bytes, max abs diff {self.float32_max_abs_diff:.3g} ({float32}) -> "
            f"{self.max_abs_diff:.3g}"
        ]
        default = self.default_float32_size_bytes
        if self.unrolled_layers:
            lines.append(
                f"the default float32 artifact (quantize=None, loops kept, any time length) "
                f"is {default:,} bytes"
            )
        if default is not None and self.size_bytes >= default:
            why = (
                ": unrolling the loops for int8 costs more than int8 weights save"
                if self.unrolled_layers
                else ""
            )
            lines.append(
                f"note: the {self.quantize} artifact is {self.size_bytes / default:.2f}x the "
                f"size of the default float32 one ({self.size_bytes:,} vs {default:,} "
                f"bytes){why}; quantize=None gives the smaller file"
            )
        return lines


def tflite_ops(content: bytes) -> list[str]:
    """The operator names a .tflite flatbuffer uses (every subgraph);
    custom ops (Flex included) as ``CUSTOM:<name>``."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    names = set()
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            if builtin == schema.BuiltinOperator.CUSTOM:
                names.add(f"CUSTOM:{code.customCode.decode()}")
            else:
                names.add(_OP_NAMES.get(builtin, str(builtin)))
    return sorted(names)


def interpreter(content: bytes):
    """A TFLite interpreter: ai_edge_litert's when installed, else tf.lite's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter  # noqa: N806
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_content=content)


def run_tflite(artifact, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a .tflite artifact (bytes, or an interpreter made from them) on
    named inputs of any batch size and length; return the named outputs.

    Inputs are resized (``resize_tensor_input`` + ``allocate_tensors``) and
    variables reset before the invoke: TFLite's fused LSTM keeps its state
    in variable tensors across invocations. An input whose shape does not fit
    the artifact's (an int8 artifact's fixed time length, a fixed batch size)
    is refused with a ValueError saying the shape the artifact takes.
    """
    runner = interpreter(artifact) if isinstance(artifact, (bytes, bytearray)) else artifact
    signature = runner.get_signature_runner()
    details = signature.get_input_details()
    input_index = {n: d["index"] for n, d in details.items()}
    output_index = {n: d["index"] for n, d in signature.get_output_details().items()}
    del signature  # it holds the interpreter's buffers, which resizing would invalidate
    for name, value in inputs.items():
        if name not in details:
            raise ValueError(f"The artifact has no input '{name}'; its inputs: {sorted(details)}.")
        _check_artifact_input(name, np.shape(value), details[name]["shape_signature"])
    for name, value in inputs.items():
        runner.resize_tensor_input(input_index[name], np.shape(value), strict=False)
    runner.allocate_tensors()
    runner.reset_all_variables()
    for name, value in inputs.items():
        runner.set_tensor(input_index[name], value)
    runner.invoke()
    return {name: runner.get_tensor(index) for name, index in output_index.items()}


def _check_artifact_input(name: str, shape: tuple[int, ...], signature) -> None:
    """ValueError unless ``shape`` fits an artifact input's shape signature (-1: any)."""
    fixed = [int(d) for d in signature]
    if len(shape) == len(fixed) and all(f in (-1, s) for s, f in zip(shape, fixed)):
        return
    takes = "(" + ", ".join("any" if f == -1 else str(f) for f in fixed) + ")"
    why = ""
    if len(shape) == len(fixed) and len(fixed) > 1 and fixed[1] not in (-1, shape[1]):
        why = (
            f": the artifact has a fixed time length of {fixed[1]} (int8 artifacts are "
            "unrolled over the length they were exported with); pad or cut the sequence, or "
            "export without int8 for any length"
        )
    elif len(shape) == len(fixed) and fixed[0] not in (-1, shape[0]):
        why = f": the artifact was exported with batch_size={fixed[0]}"
    raise ValueError(f"Input '{name}' has shape {tuple(shape)}; the artifact takes {takes}{why}.")


def check_input_shape(shape: tuple[int, ...], spec: tf.TensorSpec, what: str) -> None:
    """ValueError unless an array of ``shape`` fits ``spec`` (a model input) apart
    from its first axis, the batch or examples: ``what`` names the array."""
    expected = spec.shape.as_list()
    if len(shape) == len(expected) and all(
        e is None or e == s for s, e in zip(shape[1:], expected[1:])
    ):
        return
    wanted = ", ".join(["n"] + ["any" if e is None else str(e) for e in expected[1:]])
    raise ValueError(
        f"{what} has shape {tuple(shape)}; the model takes ({wanted}) there: n examples "
        "first, then the shape of one example (any: any size)."
    )


def _samples(model: KerasModel, specs, data: Any) -> list[dict[str, np.ndarray]]:
    """representative_data as a list of {input name: array}."""
    if callable(data):
        data = data()
    names = [spec.name for spec in specs]
    samples = []
    for sample in data:
        if isinstance(sample, dict):
            values = [sample[n] for n in input_names(model)]
        elif isinstance(sample, (list, tuple)):
            values = list(sample)
        else:
            values = [sample]
        if len(values) != len(names):
            raise ValueError(
                f"representative_data: each sample must hold the {len(names)} input(s) "
                f"{names} of model '{model.name}', got {len(values)}."
            )
        sample = {}
        for spec, value in zip(specs, values):
            value = np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
            what = f"representative_data sample {len(samples)} for input '{spec.name}'"
            check_input_shape(value.shape, spec, what)
            sample[spec.name] = value
        samples.append(sample)
    if not samples:
        raise ValueError("representative_data yielded no samples.")
    return samples


def _random_inputs(model: KerasModel, specs, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    vocab = min(
        [m.input_dim for m in all_layers(model) if type(m).__name__ == "Embedding"],
        default=10,
    )
    inputs = {}
    for spec in specs:
        shape = [batch] + [7 if d is None else d for d in spec.shape.as_list()[1:]]
        if spec.dtype.is_integer:
            inputs[spec.name] = rng.integers(0, vocab, shape).astype(spec.dtype.as_numpy_dtype)
        else:
            inputs[spec.name] = rng.standard_normal(shape).astype(spec.dtype.as_numpy_dtype)
    return inputs


def _layer_states(model: KerasModel, plan, batch: int) -> dict[str, np.ndarray]:
    """Current states of stateful layers, zeros for the others."""
    states = {}
    for layer, specs in plan:
        for i, spec in enumerate(specs):
            if layer.stateful:
                states[spec.name] = layer.states[i].numpy()
            else:
                shape = [batch] + spec.shape.as_list()[1:]
                states[spec.name] = np.zeros(shape, spec.dtype.as_numpy_dtype)
    return states


def _model_outputs(model: KerasModel, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs, leaving stateful layers' states as they were."""
    stateful = [layer for layer in recurrent_layers(model) if layer.stateful]
    saved = [[v.numpy() for v in layer.states] for layer in stateful]
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    for layer, states in zip(stateful, saved):
        layer.reset_states(states)
    return [np.asarray(o) for o in tf.nest.flatten(outputs)]


def _converter(model, concrete, quantize, samples, sample_states):
    module = tf.Module()  # tracks the weights, so the converter keeps the signature
    module.weights = tf_variables(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":

        def representative_dataset():  # by input name: the order of the graph's may differ
            for sample in samples:
                for states in sample_states(sample):
                    yield {**sample, **states}

        converter.representative_dataset = representative_dataset
    return converter


def _convert(
    model: KerasModel,
    concrete,
    quantize,
    signature: str,
    samples=None,
    sample_states=None,
    float_ops=None,
) -> bytes:
    """The TFLite flatbuffer of ``concrete``, builtin ops only, its signature
    named ``signature``.

    int8 needs ``float_ops``, the ops of the same function converted
    without quantization: TF 2.21's int8 calibrator crashes the process on
    a WHILE loop, so a function that has one is refused before calibrating.
    ``sample_states(sample)`` gives the state inputs (streaming) to
    calibrate each sample with: a list of {name: array}.
    An int8 REVERSE_V2 gets the requantize TF 2.21 leaves out (see
    ``tfrnn.export.requantize``).
    """
    if quantize == "int8" and (float_ops is None or "WHILE" in float_ops):
        raise ValueError(
            f"quantize='int8' cannot calibrate model '{model.name}': its TFLite graph "
            f"has a WHILE loop (ops: {', '.join(float_ops or ['unknown'])}), and TF 2.21's "
            "int8 calibrator crashes the process on loops. Use quantize='dynamic' or "
            "'float16'."
        )
    converter = _converter(model, concrete, quantize, samples, sample_states)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            content = converter.convert()
    except Exception as err:  # ConverterError and friends: say which layer
        message = str(err)
        layers = [
            layer.name
            for layer in all_layers(model)
            if re.search(rf"(^|[/\"(]){re.escape(layer.name)}/", message)
        ]
        where = f"layer(s) {', '.join(repr(n) for n in layers)}" if layers else "the model"
        first = next((line for line in message.splitlines() if "error" in line), message[:500])
        raise ValueError(
            f"TFLite conversion of model '{model.name}' failed in {where} with builtin ops "
            f"only: {first.strip()}"
        ) from err
    custom = [op for op in tflite_ops(content) if op.startswith("CUSTOM:")]
    if custom:
        raise ValueError(
            f"TFLite conversion of model '{model.name}' produced non-builtin ops {custom}."
        )
    if quantize == "int8":
        content, _ = add_missing_requantizes(content)
    return renamed_tflite_signature(content, signature)


def _weight_sizes(content: bytes) -> dict[str, list[int]]:
    """Type name -> element counts of the constant tensors (weights) of a .tflite."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sizes: dict[str, list[int]] = {}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data
            if data is not None and len(data) and not tensor.isVariable:
                count = int(np.prod(tensor.shape)) if tensor.shape is not None else 1
                sizes.setdefault(_TYPE_NAMES.get(tensor.type, str(tensor.type)), []).append(count)
    return sizes


def _unquantized_warning(content: bytes, float_content: bytes) -> str | None:
    """What to tell the user when a quantize='dynamic' artifact holds no int8 weight."""
    if _weight_sizes(content).get("INT8"):
        return None
    largest = max(_weight_sizes(float_content).get("FLOAT32", [0]))
    if largest < DYNAMIC_MIN_ELEMENTS:
        why = (
            f"TFLite's converter quantizes only weight tensors of {DYNAMIC_MIN_ELEMENTS} "
            f"values or more, and this model's largest holds {largest}"
        )
    else:
        why = "TFLite's converter left every weight tensor in float32"
    return (
        f"quantize='dynamic' quantized no weight ({why}), so the artifact is the float32 "
        "one; quantize='float16' converts every weight."
    )


def _int8_time_steps(model, specs, samples, looped) -> list[int | None]:
    """Per input, the time length an unrolled int8 artifact fixes: None where
    the model fixes it already, else the representative samples' one."""
    steps = []
    for spec in specs:
        if spec.shape.rank < 2 or spec.shape[1] is not None:
            steps.append(None)
            continue
        lengths = sorted({sample[spec.name].shape[1] for sample in samples})
        if len(lengths) > 1:
            raise ValueError(
                f"quantize='int8' unrolls the time loop of layer(s) {looped} of model "
                f"'{model.name}' (TF 2.21's int8 calibrator crashes on TFLite WHILE loops), "
                f"so the artifact has one fixed time length; input '{spec.name}' has a "
                f"dynamic time axis and the representative_data samples have lengths "
                f"{lengths}. Give every sample the length the artifact should take (pad "
                "them, with a mask if the model has one), or fix the input's length "
                "(tf_keras.Input((T, ...)))."
            )
        steps.append(lengths[0])
    return steps


def _max_diff(content: bytes, inputs: dict, states: dict, expected: list, output_names) -> float:
    got = run_tflite(content, {**inputs, **states})
    return max(float(np.max(np.abs(got[name] - ref))) for name, ref in zip(output_names, expected))


def export_tflite(
    model: KerasModel,
    path: str | os.PathLike,
    *,
    batch_size: int | None = None,
    quantize: str | None = None,
    representative_data: Iterable | Callable[[], Iterable] | None = None,
    fuse_lstm: bool = True,
    streaming: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TFLiteReport:
    """Write ``model`` as a TFLite flatbuffer of builtin ops only; return a report.

    Args:
      batch_size: None for a dynamic batch size, or a fixed one. TFLite's
        fused LSTM kernel needs a fixed batch size.
      quantize: None, 'float16', 'dynamic' (dynamic-range: int8 weights) or
        'int8' (int8 weights and activations, calibrated on
        ``representative_data``; float32 inputs and outputs). TF 2.21's int8
        calibrator crashes on TFLite WHILE loops, so under 'int8' every
        layer that is not fused into UNIDIRECTIONAL_SEQUENCE_LSTM is
        unrolled (UNPACK, one step per timestep, PACK) and the artifact
        takes one fixed time length: the model input's own, else that of
        the representative samples (which must then all share it). The
        batch size stays as ``batch_size`` says (None: dynamic).
      representative_data: samples (an iterable, or a callable returning
        one) of the model's inputs: an array, a list of arrays or a dict by
        input name, each with a batch axis. The first is also the check input.
      fuse_lstm: turn eligible LSTM layers (tanh/sigmoid, bias, no mask, no
        returned or carried state, fixed batch) into UNIDIRECTIONAL_SEQUENCE_LSTM.
        The fused kernel clips its cell state at +-10 (tf_keras does not);
        if the artifact then differs from the model by more than 1e-4 on the
        check input, a warning says so. The fused kernel keeps its state in
        TFLite variables between invocations: run fused artifacts with
        ``interpreter.reset_all_variables()`` before each invoke.
      streaming: the signature, named ``streaming`` as in a streaming
        SavedModel, takes a chunk of timesteps plus every recurrent layer's
        states (``<layer>_h``, and ``<layer>_c`` for LSTMs; see
        ``tracing.state_names``) and returns the outputs plus the new states
        under the same names. Stateful models need it (TFLite has no Keras
        states). Otherwise the signature is ``serving_default``.
      overwrite: replace an existing ``path``.
      progress: called with the name of each stage (tracing, converting,
        checking, writing) as it starts; the CLI prints them on a terminal.

    The artifact is run in the TFLite interpreter on the check input and
    compared with the model; the write is atomic (nothing is left on error).
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}.")
    if quantize == "int8" and representative_data is None:
        raise ValueError(
            "quantize='int8' needs representative_data: a few typical input batches "
            "to calibrate the activation ranges (or use quantize='dynamic')."
        )
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
    ):
        raise ValueError(f"batch_size must be None or a positive integer, got {batch_size!r}.")
    stage = progress or (lambda stage: None)
    check_exportable(model)
    stateful = [layer.name for layer in recurrent_layers(model) if layer.stateful]
    if stateful and not streaming:
        raise ValueError(
            f"Layer(s) {stateful} of model '{model.name}' are stateful; a TFLite artifact "
            "carries no Keras states. Export with streaming=True: the states become "
            "inputs and outputs of the signature."
        )
    specs = input_specs(model, batch_size)
    samples = None
    if representative_data is not None:
        samples = _samples(model, specs, representative_data)
    check = samples[0] if samples else _random_inputs(model, specs, specs[0].shape[0] or 2)
    batch = next(iter(check.values())).shape[0]
    plan = state_specs(model, specs[0].shape[0]) if streaming else []

    def state_zeros(n):
        return {
            s.name: np.zeros([n] + s.shape.as_list()[1:], s.dtype.as_numpy_dtype)
            for _, layer_specs in plan
            for s in layer_specs
        }

    states = _layer_states(model, plan, batch)
    expected = _model_outputs(model, list(check.values()))
    trace_options = dict(
        batch_size=batch_size, streaming=streaming, builtin_loops=True, fuse_lstm=fuse_lstm
    )
    signature = STREAMING if streaming else SERVING
    stage("tracing the model")
    concrete, record = trace(model, **trace_options)
    looped = [r.name for r in recurrent_layers(model) if r.name not in record.fused]
    time_steps = None
    if quantize == "int8" and looped:  # no WHILE for the calibrator: unroll the loops
        time_steps = _int8_time_steps(model, specs, samples, looped)
    stage("converting to TFLite (float32)")
    float_content = _convert(model, concrete, None, signature)
    default_size = len(float_content)
    if time_steps is not None:
        stage(f"tracing the model with layer(s) {', '.join(looped)} unrolled for int8")
        concrete, record = trace(model, **trace_options, unroll=True, time_steps=time_steps)
        stage("converting the unrolled model to TFLite (float32)")
        float_content = _convert(model, concrete, None, signature)
    output_names = list(concrete.structured_outputs)
    model_outputs = (
        output_names[: len(expected)]
        if not streaming
        else [n for n in output_names if n not in state_zeros(1)]
    )
    content = float_content
    if quantize is not None:

        def sample_states(sample):
            """Zero states, and the ones the float32 artifact reaches on the
            sample: the int8 state inputs must cover what a stream feeds."""
            zeros = state_zeros(next(iter(sample.values())).shape[0])
            if not zeros:
                return [zeros]
            reached = run_tflite(float_content, {**sample, **zeros})
            return [zeros, {name: reached[name] for name in zeros}]

        calibrating = f", calibrating on {len(samples)} batches" if quantize == "int8" else ""
        stage(f"converting to TFLite ({quantize}{calibrating})")
        content = _convert(
            model,
            concrete,
            quantize,
            signature,
            samples,
            sample_states,
            float_ops=tflite_ops(float_content),
        )
    stage("checking the artifact against the model")
    diff = _max_diff(content, check, states, expected, model_outputs)
    report = TFLiteReport(
        path=str(path),
        size_bytes=len(content),
        ops=tflite_ops(content),
        fused_layers=list(record.fused),
        not_fused=dict(record.not_fused),
        max_abs_diff=diff,
        inputs=[s.name for s in concrete.structured_input_signature[0]]
        if concrete.structured_input_signature[0]
        else sorted(concrete.structured_input_signature[1]),
        outputs=output_names,
        quantize=quantize,
        unrolled_layers=looped if time_steps is not None else [],
        time_steps={
            spec.name: steps for spec, steps in zip(specs, time_steps or []) if steps is not None
        },
        signature=signature,
    )
    float_diff = diff
    if quantize is not None:
        float_diff = _max_diff(float_content, check, states, expected, model_outputs)
        report.float32_size_bytes = len(float_content)
        report.float32_max_abs_diff = float_diff
        report.default_float32_size_bytes = default_size
    if quantize == "dynamic":
        unquantized = _unquantized_warning(content, float_content)
        if unquantized:
            report.warnings.append(unquantized)
    if record.fused and float_diff > CLIP_TOLERANCE:
        message = (
            f"the artifact differs from the model by {float_diff:.3g} (> {CLIP_TOLERANCE}) "
            f"on the check input; the fused LSTM layers {record.fused} clip their cell "
            "state at +-10 and tf_keras does not. Export with fuse_lstm=False for the "
            "model's numbers."
        )
        report.warnings.append(message)
        warnings.warn(message, stacklevel=2)
    stage(f"writing {path}")
    with atomic_output(path, overwrite=overwrite) as target:
        target.write_bytes(content)
    return report
