"""CuDNNLSTM/CuDNNGRU on a CPU, and LSTM/GRU's use_cudnn argument."""

import logging

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils
from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM
from tf_keras.src.saving.legacy import hdf5_format
from tolerances import OUTPUT_TOL

import tfrnn
from tfrnn.export.tflite import interpreter as tflite_interpreter

PAIRS = [
    (tfrnn.CuDNNLSTM, CuDNNLSTM, lambda **k: tf_keras.layers.LSTM(6, **k)),
    (
        tfrnn.CuDNNGRU,
        CuDNNGRU,
        lambda **k: tf_keras.layers.GRU(6, reset_after=True, recurrent_activation="sigmoid", **k),
    ),
]


def _max_diff(a, b):
    return max(float(np.abs(np.asarray(u) - np.asarray(v)).max()) for u, v in zip(a, b))


@pytest.mark.parametrize("ours,_,plain", PAIRS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cudnn_layer_on_cpu_equals_plain_layer_after_tf_keras_conversion(
    rng, ours, _, plain, go_backwards
):
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer, oracle = ours(6, **kw), plain(**kw)
    layer(x), oracle(x)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    oracle.set_weights(hdf5_format.preprocess_weights_for_loading(oracle, layer.get_weights()))
    assert _max_diff(layer(x), oracle(x)) < OUTPUT_TOL
    assert _max_diff(tf.function(layer)(x), oracle(x)) < OUTPUT_TOL


@pytest.mark.parametrize("ours,theirs,_", PAIRS)
def test_cudnn_layer_weights_match_tf_keras_layout_and_files_load(tmp_path, rng, ours, theirs, _):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    reference = tf_keras.Sequential([tf_keras.Input((4, 3)), theirs(6, return_sequences=True)])
    reference.save_weights(tmp_path / "w.h5")
    reference.save(tmp_path / "m.h5")
    reference.save(tmp_path / "m.keras")
    ref_weights = reference.get_weights()

    mine = tf_keras.Sequential([tf_keras.Input((4, 3)), ours(6, return_sequences=True)])
    assert [w.shape for w in mine.get_weights()] == [w.shape for w in ref_weights]
    assert [w.name.split("/")[-1] for w in mine.weights] == [
        w.name.split("/")[-1] for w in reference.weights
    ]
    mine.load_weights(tmp_path / "w.h5")
    for got, want in zip(mine.get_weights(), ref_weights):
        np.testing.assert_array_equal(got, want)
    with tf_keras.utils.custom_object_scope({ours.__name__: ours}):
        loaded = tf_keras.models.load_model(tmp_path / "m.h5")
    assert isinstance(loaded.layers[0], ours)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), mine(x), atol=OUTPUT_TOL)
    # tf_keras cannot rebuild its own CuDNN layers from a .keras file (they are
    # not exported in its v2 namespace), but the weights load into ours.
    fresh = tf_keras.Sequential([tf_keras.Input((4, 3)), ours(6, return_sequences=True)])
    fresh.load_weights(tmp_path / "m.keras")
    for got, want in zip(fresh.get_weights(), ref_weights):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("ours,_,__", PAIRS)
def test_cudnn_layer_round_trips(tmp_path, rng, ours, _, __):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    model = tf_keras.Sequential([tf_keras.Input((4, 3)), ours(5, go_backwards=True)])
    expected = model(x)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        loaded = tf_keras.models.load_model(tmp_path / name)
        assert type(loaded.layers[0]) is ours
        np.testing.assert_allclose(loaded(x), expected, atol=OUTPUT_TOL)
    tf.saved_model.save(model, str(tmp_path / "sm"))
    restored = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(restored(tf.constant(x)), expected, atol=OUTPUT_TOL)
    assert ours.from_config(model.layers[0].get_config()).get_config() == (
        model.layers[0].get_config()
    )


@pytest.mark.parametrize("cls", [tfrnn.CuDNNLSTM, tfrnn.CuDNNGRU])
def test_cudnn_layer_rejects_masks(rng, cls):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = cls(5)
    with pytest.raises(ValueError, match="does not support masking"):
        layer(x, mask=np.ones((2, 4), bool))


def test_cudnn_lstm_unit_forget_bias():
    layer = tfrnn.CuDNNLSTM(3)
    layer.build((None, 2, 4))
    np.testing.assert_array_equal(layer.bias.numpy(), [0] * 15 + [1] * 3 + [0] * 6)


@pytest.mark.parametrize("cls", [tfrnn.LSTM, tfrnn.GRU])
def test_use_cudnn_argument(cls):
    assert cls(4).get_config()["use_cudnn"] == "auto"
    assert cls.from_config(cls(4, use_cudnn=False).get_config()).use_cudnn is False
    assert cls(4, use_cudnn=True).cudnn_blocker() is None
    for kwargs, reason in [
        ({"activation": "relu"}, "activation"),
        ({"recurrent_activation": "hard_sigmoid"}, "recurrent_activation"),
        ({"use_bias": False}, "use_bias"),
        ({"recurrent_dropout": 0.2}, "recurrent_dropout"),
        ({"unroll": True}, "unroll"),
    ]:
        assert cls(4, **kwargs).cudnn_blocker()
        with pytest.raises(ValueError, match=reason):
            cls(4, use_cudnn=True, **kwargs)
    with pytest.raises(ValueError, match="use_cudnn"):
        cls(4, use_cudnn="sometimes")


def test_gru_reset_before_does_not_qualify():
    with pytest.raises(ValueError, match="reset_after"):
        tfrnn.GRU(4, reset_after=False, use_cudnn=True)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_selected_graph_gives_tf_keras_numbers_on_cpu(rng, name, go_backwards):
    """Graph mode builds the device choice; on a CPU its engine branch runs."""
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    ours, theirs = getattr(tfrnn, name)(6, **kw), getattr(tf_keras.layers, name)(6, **kw)
    ours(x), theirs(x)
    ours.set_weights(theirs.get_weights())
    for m in (None, mask):
        assert _max_diff(tf.function(lambda v, m=m: ours(v, mask=m))(x), theirs(x, mask=m)) < (
            OUTPUT_TOL
        )


def _saved_functions(path):
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    return saved.meta_graphs[0].graph_def.library.function


def _masked_stack(lib):
    return tf_keras.Sequential(
        [
            tf_keras.Input((5, 3)),
            tf_keras.layers.Masking(),
            lib.LSTM(4, return_sequences=True),
            lib.GRU(4),
        ]
    )


@pytest.mark.slow
def test_saved_model_from_cpu_holds_both_implementations_and_runs(tmp_path, rng, caplog):
    """tf_keras's SavedModel of a model with tfrnn layers: both
    implementations kept, no tfrnn-specific warnings (renaming, unbuilt
    layers), about tf_keras's size, and it loads and predicts with and
    without masked steps."""
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0  # masked steps
    ours, theirs = _masked_stack(tfrnn), _masked_stack(tf_keras.layers)
    ours.set_weights(theirs.get_weights())
    with caplog.at_level(logging.WARNING):
        ours.save(tmp_path / "ours", save_format="tf")
    tfrnn_warnings = [r.getMessage() for r in caplog.records if "tfrnn" in r.getMessage()]
    assert not tfrnn_warnings
    theirs.save(tmp_path / "theirs", save_format="tf")
    library = _saved_functions(tmp_path / "ours")
    for prefix in (b"lstm_", b"gru_"):
        pair = {}
        for f in library:
            if f.attr["api_implements"].s.startswith(prefix):
                pair.setdefault(f.attr["api_preferred_device"].s, set()).update(
                    n.op for n in f.node_def
                )
        assert sorted(pair) == [b"CPU", b"GPU"]
        assert "CudnnRNNBackpropV3" not in pair[b"CPU"]
    assert any(n.op == "CudnnRNNV3" for f in library for n in f.node_def)
    sizes = [_directory_bytes(tmp_path / name) for name in ("ours", "theirs")]
    print(f"SavedModel bytes: tfrnn {sizes[0]}, tf_keras {sizes[1]}")
    assert sizes[0] <= 1.2 * sizes[1]
    restored = tf.saved_model.load(str(tmp_path / "ours"))
    (served,) = restored.signatures["serving_default"](tf.constant(x)).values()
    np.testing.assert_allclose(served, theirs(x), atol=OUTPUT_TOL)
    loaded = tf_keras.models.load_model(tmp_path / "ours")
    unmasked = rng.normal(size=(2, 5, 3)).astype("float32")
    for inputs in (x, unmasked):
        np.testing.assert_allclose(
            loaded.predict(inputs, verbose=0), theirs(inputs), atol=OUTPUT_TOL
        )


def _directory_bytes(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _tflite_operator_count(content, name):
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    code = getattr(schema.BuiltinOperator, name)
    return sum(
        max(model.operatorCodes[o.opcodeIndex].builtinCode, 0) == code
        for subgraph in model.subgraphs
        for o in subgraph.operators
    )


def _converter_from_keras_model(model, directory):
    return tf.lite.TFLiteConverter.from_keras_model(model)


def _converter_from_saved_model(model, directory):
    model.save(directory / "saved", save_format="tf")
    return tf.lite.TFLiteConverter.from_saved_model(str(directory / "saved"))


def _converter_from_concrete_function(model, directory):
    """TFLite's converter from a traced function (the codelab's way): the
    trace is not a SavedModel's, and a GPU-less machine has no GPU to swap to."""
    traced = tf.function(lambda x: model(x)).get_concrete_function(model.inputs[0].type_spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([traced], model)


TFLITE_CONVERTERS = pytest.mark.parametrize(
    "make_converter",
    [_converter_from_keras_model, _converter_from_saved_model, _converter_from_concrete_function],
    ids=["from_keras_model", "from_saved_model", "from_concrete_functions"],
)


@TFLITE_CONVERTERS
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_plain_tflite_converter_fuses_the_engine_function_as_tf_keras(
    rng, tmp_path, go_backwards, masked, make_converter
):
    """The called function follows standard_lstm's contract, so TFLite's own
    converter fuses it as it fuses tf_keras's (and leaves it a loop with a
    mask), however the model reaches the converter."""
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    inputs = tf_keras.Input((5, 3), batch_size=2)
    hidden = tf_keras.layers.Masking()(inputs) if masked else inputs
    model = tf_keras.Model(
        inputs, tfrnn.LSTM(4, return_sequences=True, go_backwards=go_backwards)(hidden)
    )
    _assert_converter_fuses(make_converter(model, tmp_path), model, x, fused=0 if masked else 1)


@TFLITE_CONVERTERS
def test_plain_tflite_converter_fuses_both_halves_of_a_bidirectional_lstm(
    rng, tmp_path, make_converter
):
    """As tf_keras's: each half of a Bidirectional(LSTM) becomes the fused kernel."""
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    inputs = tf_keras.Input((5, 3), batch_size=2)
    model = tf_keras.Model(
        inputs, tfrnn.Bidirectional(tfrnn.LSTM(4, return_sequences=True))(inputs)
    )
    _assert_converter_fuses(make_converter(model, tmp_path), model, x, fused=2)


def _assert_converter_fuses(converter, model, x, fused):
    """The converted model holds ``fused`` UNIDIRECTIONAL_SEQUENCE_LSTMs and
    gives the model's numbers."""
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    content = converter.convert()
    assert _tflite_operator_count(content, "UNIDIRECTIONAL_SEQUENCE_LSTM") == fused
    interpreter = tflite_interpreter(content)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model(x), atol=OUTPUT_TOL)
