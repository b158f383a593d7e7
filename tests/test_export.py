"""tfrnn.export: every artifact is run (reloaded SavedModel, TFLite
interpreter) and compared with the model it came from."""

import io
import json
import os
import pathlib
import re
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell
from export_checks import check_stateful_gru_streams
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

import tfrnn
from tfrnn.export import (
    OutputExistsError,
    export_saved_model,
    export_tflite,
    run_tflite,
    tflite_ops,
)
from tfrnn.export.cli import main as cli_main
from tfrnn.export.tflite import FUSED_STATE_NOTE, interpreter
from tfrnn.export.tracing import recurrent_layers, state_names

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
OUTPUT_TOL = 1e-5
# Quantized artifacts vs the float model (tiny models, inputs ~N(0, 1)).
# int8 of the unrolled layers, on calibration inputs: measured 0.0016-0.045.
FLOAT16_TOL = 1e-2
DYNAMIC_TOL = 5e-2
INT8_TOL = 1e-1


def seq_model(*layers, features=4, batch_size=None):
    x = inputs = tf_keras.Input((None, features), batch_size=batch_size, name="x")
    for layer in layers:
        x = layer(x)
    return tf_keras.Model(inputs, x)


def output_of(model, x):
    return np.asarray(model(x, training=False))


def run_check(model, report, content, shapes, rng, input_name="x"):
    """Run the artifact at several (batch, time) shapes; assert it matches."""
    features = model.inputs[0].shape[2:]
    for batch, steps in shapes:
        x = rng.standard_normal((batch, steps, *features)).astype("float32")
        got = run_tflite(content, {input_name: x})
        (name,) = [n for n in report.outputs if n not in report.inputs]
        np.testing.assert_allclose(got[name], output_of(model, x), atol=OUTPUT_TOL)


def tensor_types(content):
    """{op name: set of the types of its tensors} over the main subgraph."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    found = {}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        tensors = [i for i in [*op.inputs, *op.outputs] if i >= 0]
        found.setdefault(name, set()).update(types[graph.tensors[i].type] for i in tensors)
    return found


def subgraph_ops(content):
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return [
        [names[max(model.operatorCodes[o.opcodeIndex].builtinCode, 0)] for o in subgraph.operators]
        for subgraph in model.subgraphs
    ]


# ------------------------------------------------------------------ SavedModel
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
RELOAD = textwrap.dedent(
    """
    import json, sys
    sys.path.append(SITE)   # without site's .pth processing: no editable tfrnn
    try:
        import tfrnn
        sys.exit("tfrnn is importable here")
    except ImportError:
        pass
    import numpy as np, tensorflow as tf
    loaded = tf.saved_model.load("model")
    serve = loaded.signatures["serving_default"]
    out = serve(x=tf.constant(np.load("x.npy")))
    np.save("y.npy", out["probs"].numpy())
    # the README's account of loading Keras files with tfrnn layers without tfrnn
    import tf_keras
    errors = {}
    for name in ("model.keras", "model.h5"):
        try:
            tf_keras.models.load_model(name)
        except Exception as err:
            errors[name] = f"{type(err).__name__}: {err}"
    print(json.dumps({"inputs": sorted(serve.structured_input_signature[1]),
                      "outputs": sorted(serve.structured_outputs), "errors": errors}))
    """
)


def test_saved_model_reloads_without_tfrnn(tmp_path, rng):
    inputs = tf_keras.Input((None, 4), name="x")
    h = tfrnn.LSTM(8, return_sequences=True)(inputs)
    h = tfrnn.GRU(6, reset_after=False)(h)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3, name="probs")(h))
    assert export_saved_model(model, tmp_path / "model") == str(tmp_path / "model")
    model.save(tmp_path / "model.keras")
    model.save(tmp_path / "model.h5")
    x = rng.standard_normal((3, 9, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = RELOAD.replace("SITE", repr(SITE_PACKAGES))
    done = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = json.loads(done.stdout.strip().splitlines()[-1])
    errors = names.pop("errors")
    assert names == {"inputs": ["x"], "outputs": ["probs"]}
    # as the README says: without `import tfrnn` the failures do not name it
    readme = " ".join(README.read_text().split())
    for said in ("Unknown layer: 'tfrnn>LSTM'", "('Keyword argument not understood:', '"):
        assert said in readme
    assert "Unknown layer: 'tfrnn>LSTM'" in errors["model.h5"]
    assert "TypeError: ('Keyword argument not understood:', '" in errors["model.keras"]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), output_of(model, x), atol=OUTPUT_TOL)
    # dynamic batch and time, in process
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    for shape in [(1, 2, 4), (5, 13, 4)]:
        x = rng.standard_normal(shape).astype("float32")
        np.testing.assert_allclose(
            serve(x=tf.constant(x))["probs"], output_of(model, x), atol=OUTPUT_TOL
        )


def test_saved_model_streaming_chunks_equal_whole_sequence(tmp_path, rng):
    model = seq_model(tfrnn.LSTM(5, return_sequences=True), tfrnn.GRU(4, return_sequences=True))
    export_saved_model(model, tmp_path / "sm", streaming=True)
    stream = tf.saved_model.load(str(tmp_path / "sm")).signatures["streaming"]
    x = rng.standard_normal((2, 12, 4)).astype("float32")
    # the states are named for what they are: an LSTM's h and c, a GRU's h
    inputs = stream.structured_input_signature[1]
    assert sorted(inputs) == ["gru_h", "lstm_c", "lstm_h", "x"]
    assert sorted(stream.structured_outputs) == ["gru", "gru_h", "lstm_c", "lstm_h"]
    states = {name: tf.zeros([2, spec.shape[1]]) for name, spec in inputs.items() if name != "x"}
    out_name = "gru"
    chunks = []
    for start, stop in [(0, 5), (5, 6), (6, 12)]:
        result = stream(x=tf.constant(x[:, start:stop]), **states)
        chunks.append(result[out_name].numpy())
        states = {name: result[name] for name in states}
    np.testing.assert_allclose(np.concatenate(chunks, 1), output_of(model, x), atol=OUTPUT_TOL)


def _function_count(saved_model_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(saved_model_dir) / "saved_model.pb").read_bytes())
    return len(proto.meta_graphs[0].graph_def.library.function)


def _dir_size(path):
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


@pytest.mark.slow
def test_saved_model_is_smaller_than_tf_keras_export(tmp_path):
    def build(lib):
        return seq_model(lib.LSTM(8, return_sequences=True), lib.GRU(6))

    reference, ours = build(tf_keras.layers), build(tfrnn)
    ours.set_weights(reference.get_weights())
    reference.save(tmp_path / "tf_keras", save_format="tf")
    export_saved_model(ours, tmp_path / "tfrnn")
    theirs_count, ours_count = (
        _function_count(tmp_path / "tf_keras"),
        _function_count(tmp_path / "tfrnn"),
    )
    print(f"functions: tf_keras {theirs_count}, tfrnn {ours_count}")
    print(
        f"bytes: tf_keras {_dir_size(tmp_path / 'tf_keras')}, tfrnn {_dir_size(tmp_path / 'tfrnn')}"
    )
    assert ours_count < theirs_count
    assert _dir_size(tmp_path / "tfrnn") < _dir_size(tmp_path / "tf_keras")


# ---------------------------------------------------------------------- TFLite
LOOPED_CASES = {
    "lstm_unfused": lambda: [tfrnn.LSTM(6, return_sequences=True)],
    "gru_reset_after": lambda: [tfrnn.GRU(6, return_sequences=True)],
    "gru_reset_before": lambda: [tfrnn.GRU(6, reset_after=False)],
    "simple_rnn": lambda: [tfrnn.SimpleRNN(6, activation="relu", return_sequences=True)],
    "bidirectional": lambda: [tfrnn.Bidirectional(tfrnn.LSTM(5, return_sequences=True))],
    "stacked": lambda: [
        tfrnn.LSTM(6, return_sequences=True, go_backwards=True),
        tfrnn.GRU(5),
        tf_keras.layers.Dense(2),
    ],
    "stacked_cells": lambda: [tfrnn.RNN([tfrnn.LSTMCell(4), tfrnn.GRUCell(3)])],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(LOOPED_CASES))
def test_tflite_dynamic_batch_and_time(case, tmp_path, rng):
    model = seq_model(*LOOPED_CASES[case]())
    report = export_tflite(model, tmp_path / "m.tflite", fuse_lstm=case != "lstm_unfused")
    content = (tmp_path / "m.tflite").read_bytes()
    assert report.size_bytes == len(content)
    assert "WHILE" in report.ops and not [op for op in report.ops if op.startswith("CUSTOM")]
    assert report.fused_layers == [] and report.max_abs_diff <= OUTPUT_TOL
    run_check(model, report, content, [(1, 3), (4, 11), (2, 1)], rng)


@pytest.mark.parametrize("reset_after", [True, False])
def test_tflite_loop_hoists_the_input_projection(reset_after, tmp_path):
    model = seq_model(tfrnn.GRU(6, reset_after=reset_after))
    export_tflite(model, tmp_path / "m.tflite")
    main, *loop = subgraph_ops((tmp_path / "m.tflite").read_bytes())
    body = [ops for ops in loop if "FULLY_CONNECTED" in ops]
    # one projection GEMM before the loop; in the body only the recurrent one(s)
    assert main.count("FULLY_CONNECTED") == 1 and "WHILE" in main
    assert len(body) == 1 and body[0].count("FULLY_CONNECTED") == (1 if reset_after else 2)


@pytest.mark.slow
def test_tflite_conv_lstm_2d(tmp_path, rng):
    inputs = tf_keras.Input((None, 5, 5, 2), name="x")
    model = tf_keras.Model(inputs, tfrnn.ConvLSTM2D(3, 3, padding="same")(inputs))
    report = export_tflite(model, tmp_path / "m.tflite")
    assert "CONV_2D" in report.ops and "WHILE" in report.ops
    run_check(model, report, (tmp_path / "m.tflite").read_bytes(), [(1, 2), (3, 6)], rng)


def test_tflite_fused_lstm_with_fixed_batch(tmp_path, rng):
    model = seq_model(
        tfrnn.Bidirectional(tfrnn.LSTM(5, return_sequences=True)),
        tfrnn.LSTM(4),
        batch_size=2,
    )
    report = export_tflite(model, tmp_path / "m.tflite", batch_size=2)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in report.ops and "WHILE" not in report.ops
    assert sorted(report.fused_layers) == ["backward_lstm", "forward_lstm", "lstm_1"]
    assert report.max_abs_diff <= OUTPUT_TOL
    runner = interpreter((tmp_path / "m.tflite").read_bytes())
    # the same interpreter, again and again: run_tflite resets the kernel's state
    run_check(model, report, runner, [(2, 3), (2, 12), (2, 12)], rng)
    # which the kernel keeps otherwise, as the report says in one line
    assert f"note: {FUSED_STATE_NOTE}" in str(report).splitlines()
    x = rng.standard_normal((2, 6, 4)).astype("float32")
    signature = runner.get_signature_runner()
    first, again = (signature(x=x)["lstm_1"] for _ in range(2))
    assert np.abs(first - output_of(model, x)).max() <= OUTPUT_TOL
    assert np.abs(again - first).max() > 1e-3  # started from the first run's state


def test_tflite_dynamic_batch_does_not_fuse_and_says_why(tmp_path):
    report = export_tflite(seq_model(tfrnn.LSTM(4)), tmp_path / "m.tflite")
    assert report.fused_layers == [] and "batch size is dynamic" in report.not_fused["lstm"]


def test_tflite_masked_embedding_model(tmp_path, rng):
    tokens = tf_keras.Input((None,), dtype="int32", name="tokens")
    embedded = tf_keras.layers.Embedding(12, 4, mask_zero=True)(tokens)
    model = tf_keras.Model(tokens, tfrnn.LSTM(5)(tfrnn.GRU(3, return_sequences=True)(embedded)))
    for batch_size in (None, 3):
        path = tmp_path / f"m{batch_size}.tflite"
        report = export_tflite(model, path, batch_size=batch_size)
        assert "SELECT_V2" in report.ops and report.fused_layers == []
        if batch_size:
            assert report.not_fused["lstm"] == "it receives a mask"
        x = rng.integers(1, 12, (3, 8)).astype("int32")
        x[0, 5:] = 0
        x[2, 2:] = 0
        got = run_tflite(path.read_bytes(), {"tokens": x})["lstm"]
        np.testing.assert_allclose(got, output_of(model, x), atol=OUTPUT_TOL)


def _clipping_lstm():
    """An LSTM whose cell state climbs past 10 and comes back: c += tanh(x)."""
    layer = tfrnn.LSTM(1, return_sequences=True)
    model = seq_model(layer, features=1, batch_size=1)
    kernel = np.array([[0.0, 0.0, 1.0, 0.0]], "float32")
    bias = np.array([20.0, 20.0, 0.0, 20.0], "float32")
    layer.set_weights([kernel, np.zeros((1, 4), "float32"), bias])
    x = np.concatenate([np.full(16, 5.0), np.full(12, -5.0)]).reshape(1, 28, 1).astype("float32")
    return model, x


def test_tflite_cell_clipping_warns_and_fuse_lstm_false_avoids_it(tmp_path):
    model, x = _clipping_lstm()
    with pytest.warns(UserWarning, match="fuse_lstm=False"):
        report = export_tflite(
            model, tmp_path / "fused.tflite", batch_size=1, representative_data=[x]
        )
    assert report.fused_layers == ["lstm"] and report.max_abs_diff > 0.5
    report = export_tflite(
        model, tmp_path / "loop.tflite", batch_size=1, representative_data=[x], fuse_lstm=False
    )
    assert report.fused_layers == [] and report.max_abs_diff <= OUTPUT_TOL and not report.warnings


def test_tflite_streaming_chunks_equal_whole_sequence(tmp_path, rng):
    model = seq_model(tfrnn.LSTM(5, return_sequences=True), tfrnn.GRU(4, return_sequences=True))
    report = export_tflite(model, tmp_path / "s.tflite", streaming=True)
    assert sorted(report.inputs) == ["gru_h", "lstm_c", "lstm_h", "x"]
    # the signature has the name it has in a streaming SavedModel
    runner = interpreter((tmp_path / "s.tflite").read_bytes())
    assert list(runner.get_signature_list()) == ["streaming"] == [report.signature]
    assert "signature streaming: inputs" in str(report)
    x = rng.standard_normal((3, 10, 4)).astype("float32")
    states = {"lstm_h": np.zeros((3, 5), "float32"), "lstm_c": np.zeros((3, 5), "float32")}
    states["gru_h"] = np.zeros((3, 4), "float32")
    chunks = []
    for start, stop in [(0, 4), (4, 5), (5, 10)]:
        result = run_tflite(runner, {"x": x[:, start:stop], **states})
        chunks.append(result["gru"])
        states = {name: result[name] for name in states}
    np.testing.assert_allclose(np.concatenate(chunks, 1), output_of(model, x), atol=OUTPUT_TOL)


def test_streaming_state_names_say_what_each_state_is():
    stack = [tfrnn.GRUCell(2), tfrnn.LSTMCell(3)]
    cases = [
        (tfrnn.LSTM(3), (2, 5, 4), ["h", "c"]),
        (tfrnn.GRU(3), (2, 5, 4), ["h"]),
        (tfrnn.SimpleRNN(3), (2, 5, 4), ["h"]),
        (tfrnn.ConvLSTM1D(2, 3), (2, 5, 6, 4), ["h", "c"]),
        (tfrnn.RNN(stack), (2, 5, 4), ["cell0_h", "cell1_h", "cell1_c"]),
        (
            tfrnn.RNN(tfrnn.StackedRNNCells(stack, reverse_state_order=True)),
            (2, 5, 4),
            ["cell1_h", "cell1_c", "cell0_h"],
        ),
        (tfrnn.RNN(ConstantsCell(3)), None, ["state_0"]),  # another cell: by position
    ]
    for layer, shape, names in cases:
        if shape is not None:
            layer(tf.zeros(shape))
        assert state_names(layer) == names, layer.name


def test_tflite_stateful_model_streams(tmp_path, rng):
    layer = tfrnn.GRU(4, stateful=True, return_sequences=True)
    check_stateful_gru_streams(seq_model(layer, batch_size=2), tmp_path, rng)


@pytest.mark.slow
def test_tflite_quantization_reports_size_and_accuracy(tmp_path, rng):
    model = seq_model(
        tfrnn.LSTM(32, return_sequences=True), tf_keras.layers.Dense(3), batch_size=2
    )
    data = [rng.standard_normal((2, 10, 4)).astype("float32") for _ in range(4)]
    bounds = {"float16": FLOAT16_TOL, "dynamic": DYNAMIC_TOL, "int8": INT8_TOL}
    for mode, bound in bounds.items():
        report = export_tflite(
            model,
            tmp_path / f"{mode}.tflite",
            batch_size=2,
            quantize=mode,
            representative_data=data,
        )
        assert report.quantize == mode and report.float32_max_abs_diff <= OUTPUT_TOL
        assert report.max_abs_diff <= bound and "CUSTOM" not in " ".join(report.ops)
        print(mode, report.float32_size_bytes, report.size_bytes, report.max_abs_diff)
        # TF 2.21 leaves the fused LSTM's weights in float32 under 'dynamic', and the
        # Dense layer's 96 weights are under the converter's threshold: the report says so
        assert report.size_bytes < report.float32_size_bytes or mode == "dynamic"
        unquantized = [w for w in report.warnings if "quantized no weight" in w]
        assert unquantized == (
            [
                "quantize='dynamic' quantized no weight (TFLite's converter left every weight "
                "tensor in float32), so the artifact is the float32 one; quantize='float16' "
                "converts every weight."
            ]
            if mode == "dynamic"
            else []
        )
    report = export_tflite(model, tmp_path / "dyn.tflite", quantize="dynamic")  # dynamic batch
    print("dynamic, looped", report.float32_size_bytes, report.size_bytes, report.max_abs_diff)
    assert report.max_abs_diff <= DYNAMIC_TOL and "WHILE" in report.ops
    assert report.size_bytes < report.float32_size_bytes and not report.warnings


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_unrolled_builtin_loop_equals_the_engine(go_backwards, zero_output_for_mask, rng):
    from tfrnn.engine.scan import scan
    from tfrnn.export.loop import builtin_scan

    kernel = tf.constant(rng.standard_normal((3, 3)).astype("float32"))

    def step(x_t, states):
        h = tf.tanh(x_t + tf.matmul(states[0], kernel))
        return h, [h]

    x = tf.constant(rng.standard_normal((6, 2, 3)).astype("float32"))  # time-major
    mask = tf.constant([[1, 0], [1, 1], [0, 1], [1, 1], [1, 0], [0, 0]]) > 0
    zeros = tf.zeros((2, 3))
    options = dict(go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask)
    for masked in (None, mask):
        want = scan(step, x, [zeros], zeros, mask=masked, time_major=True, **options)
        for unroll in (False, True):
            for collect in (True, False):
                got = builtin_scan(
                    step,
                    x,
                    [zeros],
                    zeros,
                    mask=masked,
                    return_all_outputs=collect,
                    unroll=unroll,
                    **options,
                )
                np.testing.assert_allclose(got.last_output, want.last_output, atol=OUTPUT_TOL)
                np.testing.assert_allclose(got.states[0], want.states[0], atol=OUTPUT_TOL)
                if collect:
                    np.testing.assert_allclose(got.outputs, want.outputs, atol=OUTPUT_TOL)
                else:
                    assert got.outputs is None


def _masked_embedding():
    tokens = tf_keras.Input((None,), dtype="int32", name="x")
    embedded = tf_keras.layers.Embedding(12, 4, mask_zero=True)(tokens)
    return tf_keras.Model(tokens, tfrnn.LSTM(5)(tfrnn.GRU(3, return_sequences=True)(embedded)))


def _conv_lstm_2d():
    inputs = tf_keras.Input((None, 4, 4, 1), name="x")
    return tf_keras.Model(inputs, tfrnn.ConvLSTM2D(2, 3, padding="same")(inputs))


INT8_CASES = {
    "gru_reset_after": lambda: seq_model(tfrnn.GRU(6, return_sequences=True)),
    "gru_reset_before": lambda: seq_model(tfrnn.GRU(6, reset_after=False)),
    "simple_rnn": lambda: seq_model(tfrnn.SimpleRNN(6, return_sequences=True)),
    "masked_embedding": _masked_embedding,
    # fails without the requantize tfrnn.export.requantize adds after REVERSE_V2
    "bidirectional": lambda: seq_model(tfrnn.Bidirectional(tfrnn.LSTM(5, return_sequences=True))),
    "conv_lstm_2d": _conv_lstm_2d,
    "stacked": lambda: seq_model(*LOOPED_CASES["stacked"]()),
}


def int8_samples(model, rng, steps, count=6, batch=2):
    """Calibration batches: N(0, 1) features, or tokens padded with zeros."""
    spec = model.inputs[0]
    if spec.dtype.is_integer:
        samples = []
        for _ in range(count):
            tokens = rng.integers(1, 12, (batch, steps)).astype("int32")
            tokens[0, rng.integers(1, steps) :] = 0
            samples.append(tokens)
        return samples
    shape = (batch, steps, *spec.shape[2:])
    return [rng.standard_normal(shape).astype("float32") for _ in range(count)]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(INT8_CASES))
def test_tflite_int8_unrolls_looped_layers(case, tmp_path, rng):
    model = INT8_CASES[case]()
    data = int8_samples(model, rng, steps=5)
    path = tmp_path / "m.tflite"
    report = export_tflite(model, path, quantize="int8", representative_data=data)
    content = path.read_bytes()
    ops = tflite_ops(content)
    assert report.ops == ops and "WHILE" not in ops
    assert not [op for op in ops if op.startswith("CUSTOM")]
    assert "UNPACK" in ops and "QUANTIZE" in ops and "DEQUANTIZE" in ops
    types = tensor_types(content)
    # int8 inside: float32 only where float inputs are quantized and the outputs dequantized
    float_ops = {op for op, found in types.items() if "FLOAT32" in found}
    assert "DEQUANTIZE" in float_ops <= {"QUANTIZE", "DEQUANTIZE"}
    heavy = "CONV_2D" if case == "conv_lstm_2d" else "FULLY_CONNECTED"
    assert "INT8" in types[heavy] <= {"INT8", "INT32"}  # int8 weights and activations
    assert sorted(report.unrolled_layers) == sorted(r.name for r in recurrent_layers(model))
    assert report.time_steps == {"x": 5} and report.fused_layers == []
    assert report.quantize == "int8" and report.float32_max_abs_diff <= OUTPUT_TOL
    assert report.max_abs_diff <= INT8_TOL
    # the batch stays dynamic
    diffs = [report.max_abs_diff]
    for batch in (1, 3):
        x = np.concatenate(data[1:])[:batch]
        (got,) = run_tflite(content, {"x": x}).values()
        diffs.append(float(np.abs(got - output_of(model, x)).max()))
    print(case, ops, report.float32_size_bytes, report.size_bytes, diffs)
    assert max(diffs) <= INT8_TOL


def test_tflite_int8_fixed_batch_fuses_what_it_can_and_unrolls_the_rest(tmp_path, rng):
    model = seq_model(*LOOPED_CASES["stacked"](), batch_size=2)
    data = int8_samples(model, rng, steps=6)
    report = export_tflite(
        model, tmp_path / "m.tflite", batch_size=2, quantize="int8", representative_data=data
    )
    assert report.fused_layers == ["lstm"] and report.unrolled_layers == ["gru"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in report.ops and "WHILE" not in report.ops
    assert report.time_steps == {"x": 6} and "time length fixed at x=6" in str(report)
    print("fused + unrolled", report.ops, report.max_abs_diff)
    assert report.max_abs_diff <= INT8_TOL


def test_tflite_int8_streaming_chunks_follow_the_whole_sequence(tmp_path, rng):
    model = seq_model(tfrnn.LSTM(5, return_sequences=True), tfrnn.GRU(4, return_sequences=True))
    data = int8_samples(model, rng, steps=3)
    report = export_tflite(
        model, tmp_path / "s.tflite", streaming=True, quantize="int8", representative_data=data
    )
    assert "WHILE" not in report.ops and report.time_steps == {"x": 3}
    content = (tmp_path / "s.tflite").read_bytes()
    # the state inputs are calibrated on the states a stream reaches, not only on zeros
    x = np.concatenate(data[:3], axis=1)
    states = {"lstm_h": np.zeros((2, 5), "float32"), "gru_h": np.zeros((2, 4), "float32")}
    states["lstm_c"] = states["lstm_h"]
    chunks = []
    for start in range(0, 9, 3):
        result = run_tflite(content, {"x": x[:, start : start + 3], **states})
        chunks.append(result["gru"])
        states = {name: result[name] for name in states}
    diff = np.abs(np.concatenate(chunks, 1) - output_of(model, x)).max()
    print("streaming int8", report.max_abs_diff, diff)
    assert diff <= INT8_TOL


# ------------------------------------------------------------------- bad input
def test_unsupported_layer_is_named(tmp_path):
    model = seq_model(tf_keras.layers.LSTM(4, name="keras_lstm"))
    for export in (export_tflite, export_saved_model):
        with pytest.raises(ValueError, match="'keras_lstm'.*tfrnn.LSTM"):
            export(model, tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


def test_int8_needs_representative_data_and_one_time_length(tmp_path, rng):
    with pytest.raises(ValueError, match="representative_data"):
        export_tflite(seq_model(tfrnn.LSTM(4)), tmp_path / "m.tflite", quantize="int8")
    # the loop is unrolled for int8: the samples must share the artifact's time length
    data = [np.zeros((1, 3, 4), "float32"), np.zeros((2, 4, 4), "float32")]
    with pytest.raises(ValueError, match=r"'gru'.*WHILE.*'x' has a dynamic.*lengths \[3, 4\]"):
        export_tflite(
            seq_model(tfrnn.GRU(4)),
            tmp_path / "m.tflite",
            quantize="int8",
            representative_data=data,
        )
    # a loop that is not a recurrent layer's never reaches the int8 calibrator
    inputs = tf_keras.Input((3, 4), name="x")
    looped = tf_keras.layers.Lambda(
        lambda x: tf.while_loop(
            lambda i, v: i < tf.shape(x)[1], lambda i, v: (i + 1, v * 0.5), (0, x)
        )[1]
    )(inputs)
    model = tf_keras.Model(inputs, looped)
    with pytest.raises(ValueError, match="has a WHILE loop.*calibrator crashes"):
        export_tflite(
            model,
            tmp_path / "m.tflite",
            quantize="int8",
            representative_data=[rng.standard_normal((2, 3, 4)).astype("float32")],
        )
    backwards = seq_model(tfrnn.LSTM(4, go_backwards=True, name="backwards"))
    with pytest.raises(ValueError, match="'backwards'.*go_backwards"):
        export_tflite(backwards, tmp_path / "s", streaming=True)
    assert list(tmp_path.iterdir()) == []


def test_existing_path_refused_unless_overwrite(tmp_path):
    model = seq_model(tfrnn.SimpleRNN(3))
    (tmp_path / "m.tflite").write_bytes(b"old")
    (tmp_path / "sm").mkdir()
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        export_tflite(model, tmp_path / "m.tflite")
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(model, tmp_path / "sm")
    assert (tmp_path / "m.tflite").read_bytes() == b"old"
    export_tflite(model, tmp_path / "m.tflite", overwrite=True)
    export_saved_model(model, tmp_path / "sm", overwrite=True)
    assert (tmp_path / "m.tflite").read_bytes()[4:8] == b"TFL3"
    assert (tmp_path / "sm" / "saved_model.pb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite", "sm"]


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    model = seq_model(tfrnn.SimpleRNN(3))
    real_save = tf.saved_model.save

    def save_then_fail(obj, path, **kwargs):
        real_save(obj, path, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(model, tmp_path / "sm")

    def write_half_then_fail(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_tflite(model, tmp_path / "m.tflite")
    assert list(tmp_path.iterdir()) == []


class Terminal(io.StringIO):
    """Text written to a terminal (where the CLI prints its stages)."""

    def isatty(self):
        return True


def test_cli_exports_a_saved_model_file(tmp_path, capsys, monkeypatch):
    model = seq_model(tfrnn.LSTM(4))
    model.save(tmp_path / "model.keras")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert (
        cli_main([str(tmp_path / "model.keras"), str(tmp_path / "m.tflite"), "--batch-size", "2"])
        == 0
    )
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in out and f"note: {FUSED_STATE_NOTE}" in out
    stages = [line.split("] ", 1)[1] for line in terminal.getvalue().splitlines()]
    assert stages == [
        "loading TensorFlow",
        f"loading {tmp_path / 'model.keras'}",
        "tracing the model",
        "converting to TFLite (float32)",
        "checking the artifact against the model",
        f"writing {tmp_path / 'm.tflite'}",
    ]
    assert terminal.getvalue().startswith("tfrnn-export [  0.0 s] loading TensorFlow")
    assert cli_main([str(tmp_path / "model.keras"), str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "saved_model.pb").exists()
    assert capsys.readouterr().err == ""  # not a terminal: no stages
    assert cli_main([str(tmp_path / "model.keras"), str(tmp_path / "sm")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_int8_calibrates_on_representative_data(tmp_path, capfd, rng):
    model = seq_model(tfrnn.GRU(4))
    model.save(tmp_path / "model.keras")
    out = tmp_path / "m.tflite"
    args = [str(tmp_path / "model.keras"), str(out), "--quantize", "int8"]
    assert cli_main(args) == 2  # no calibration data
    assert "--representative-data" in capfd.readouterr().err and not out.exists()
    np.save(tmp_path / "bad.npy", np.zeros((0, 5, 4), "float32"))
    assert cli_main([*args, "--representative-data", str(tmp_path / "bad.npy")]) == 2
    assert "holds 0 example" in capfd.readouterr().err and not out.exists()
    data = rng.standard_normal((12, 5, 4)).astype("float32")
    np.save(tmp_path / "calib.npy", data)
    assert cli_main([*args, "--representative-data", str(tmp_path / "calib.npy")]) == 0
    printed = capfd.readouterr()  # file descriptors 1 and 2: what native code writes too
    assert "fully_quantize" not in printed.out + printed.err and printed.err == ""
    # the report compares with the float32 artifact the user would otherwise get
    lines = printed.out.splitlines()
    assert any(line.startswith("quantize=int8: ") for line in lines)
    default = [line for line in lines if line.startswith("the default float32 artifact")]
    assert default and any(
        re.match(r"note: the int8 artifact is \d\.\d\dx the size of the default", line)
        for line in lines
    )
    (got,) = run_tflite(out.read_bytes(), {"x": data[:3]}).values()
    assert np.abs(got - output_of(model, data[:3])).max() <= INT8_TOL
    with pytest.raises(ValueError, match="fixed time length of 5"):
        run_tflite(out.read_bytes(), {"x": data[:3, :4]})
    # --verbose shows what TensorFlow's converter prints
    verbose = [*args, "--representative-data", str(tmp_path / "calib.npy"), "--verbose"]
    assert cli_main([*verbose, "--overwrite"]) == 0
    assert "fully_quantize" in capfd.readouterr().err
    # --quantize dynamic says when it quantized nothing (every weight under 1024 values)
    dynamic = [str(tmp_path / "model.keras"), str(tmp_path / "d.tflite"), "--quantize", "dynamic"]
    assert cli_main(dynamic) == 0
    assert re.search(
        r"warning: quantize='dynamic' quantized no weight .*1024 values or more, and this "
        r"model's largest holds 48\), so the artifact is the float32 one",
        capfd.readouterr().out,
    )


def test_cli_names_damaged_files_and_misshapen_data(tmp_path, capsys, rng):
    model = seq_model(tfrnn.GRU(4))
    model.save(tmp_path / "model.keras")
    (tmp_path / "cut.keras").write_bytes((tmp_path / "model.keras").read_bytes()[:3000])
    (tmp_path / "empty.keras").write_bytes(b"")
    out = str(tmp_path / "m.tflite")
    for name, said in (
        ("empty.keras", "'{}' is empty (0 bytes): expected a .keras archive"),
        ("cut.keras", "'{}' is not a zip archive, which a .keras model is"),
    ):
        assert cli_main([str(tmp_path / name), out]) == 2
        assert said.format(tmp_path / name) in capsys.readouterr().err
    np.save(tmp_path / "flat.npy", rng.standard_normal((8, 4)).astype("float32"))
    flat = ["--representative-data", str(tmp_path / "flat.npy")]
    assert cli_main([str(tmp_path / "model.keras"), out, *flat]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "tfrnn-export: warning: --representative-data calibrates --quantize int8 only; "
        "without it the file's first batch is only the input the artifact is checked on.",
        f"tfrnn-export: error: --representative-data '{tmp_path / 'flat.npy'}': the array for "
        "input 'x' has shape (8, 4); the model takes (n, any, 4) there: n examples first, "
        "then the shape of one example (any: any size).",
    ]
    with pytest.raises(ValueError, match=r"representative_data sample 0 for input 'x' has shape"):
        export_tflite(model, out, representative_data=[np.zeros((8, 4), "float32")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cut.keras",
        "empty.keras",
        "flat.npy",
        "model.keras",
    ]
