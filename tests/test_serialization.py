"""Saving and loading: ``.keras``, ``.h5`` and SavedModel round trips, config
round trips, and weight files exchanged with tf_keras in both directions."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tolerances import OUTPUT_TOL

import tfrnn

BATCH, STEPS, FEATURES, UNITS = 3, 5, 3, 4


@tf_keras.saving.register_keras_serializable(package="tfrnn_tests")
class LeakyCell(tf_keras.layers.Layer):
    """A custom cell with a config argument: h = (1 - leak) h + leak tanh(x W + h U)."""

    def __init__(self, units, leak=0.5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.leak = leak
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, self.units)
        )
        self.built = True

    def call(self, inputs, states):
        h = states[0]
        new = tf.tanh(tf.matmul(inputs, self.kernel) + tf.matmul(h, self.recurrent_kernel))
        h = (1.0 - self.leak) * h + self.leak * new
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "leak": self.leak}


def _recurrent(kind: str, lib=tfrnn, **kwargs):
    """One recurrent layer of ``kind`` from ``lib`` (tfrnn or tf_keras.layers)."""
    if kind == "SimpleRNN":
        return lib.SimpleRNN(UNITS, **kwargs)
    if kind == "GRU":
        return lib.GRU(UNITS, reset_after=True, **kwargs)
    if kind == "GRU_v1":
        return lib.GRU(UNITS, reset_after=False, **kwargs)
    if kind == "LSTM":
        return lib.LSTM(UNITS, **kwargs)
    if kind == "Bidirectional":
        return lib.Bidirectional(lib.LSTM(UNITS, **kwargs), merge_mode="sum")
    if kind == "Stacked":
        cells = lib.StackedRNNCells([lib.GRUCell(UNITS), lib.LSTMCell(UNITS)])
        return lib.RNN(cells, **kwargs)
    if kind == "CellList":
        return lib.RNN([lib.SimpleRNNCell(UNITS), lib.LSTMCell(UNITS)], **kwargs)
    if kind == "Custom":
        return lib.RNN(LeakyCell(UNITS, leak=0.3), **kwargs)
    raise ValueError(kind)


KINDS = ["SimpleRNN", "GRU", "GRU_v1", "LSTM", "Bidirectional", "Stacked", "CellList", "Custom"]
# Architectures that exist in both libraries (for weight interchange).
SHARED_KINDS = KINDS[:-1]


def _model(kinds: list[str], lib=tfrnn) -> tf_keras.Model:
    """Masking, then each recurrent layer of ``kinds`` in turn, then Dense."""
    layers = lib if lib is tfrnn else tf_keras.layers
    inputs = tf_keras.Input((STEPS, FEATURES))
    hidden = tf_keras.layers.Masking(0.0)(inputs)
    for kind in kinds:
        hidden = _recurrent(kind, layers, return_sequences=True)(hidden)
    outputs = tf_keras.layers.Dense(2)(hidden)
    return tf_keras.Model(inputs, outputs)


def _randomize(model, rng):
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])


def _data(rng):
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    x[1, 3:] = 0.0  # masked tail
    return x


def _assert_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=OUTPUT_TOL, rtol=0)


def _recurrent_classes(layer) -> list[type]:
    """The classes of a recurrent layer and of everything nested in it."""
    found = [type(layer)]
    for attr in ("cell", "forward_layer", "backward_layer"):
        if hasattr(layer, attr):
            found += _recurrent_classes(getattr(layer, attr))
    for cell in getattr(layer, "cells", []):
        found += _recurrent_classes(cell)
    return found


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("kind", KINDS)
def test_model_file_round_trip(kind, fmt, tmp_path, rng):
    model = _model([kind])
    _randomize(model, rng)
    x = _data(rng)
    expected = model(x)
    path = str(tmp_path / f"model.{fmt}")
    model.save(path)
    restored = tf_keras.models.load_model(path)  # no custom_objects: tfrnn registers itself
    # The same classes come back, nested cells and wrapped layers included.
    assert _recurrent_classes(restored.layers[2]) == _recurrent_classes(model.layers[2])
    _assert_close(restored(x), expected)


@pytest.mark.slow
def test_saved_model_round_trip(tmp_path, rng):
    model = _model(KINDS)
    _randomize(model, rng)
    x = _data(rng)
    expected = model(x)
    path = str(tmp_path / "saved")
    tf.saved_model.save(model, path)
    restored = tf.saved_model.load(path)
    # The serving signature is what a SavedModel deploys. (The restored
    # object's own __call__ drops the Masking layer's mask, for tf_keras's
    # layers just as for tfrnn's, so it is not compared here.)
    signature = restored.signatures["serving_default"]
    _assert_close(list(signature(tf.constant(x)).values())[0], expected)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_config_round_trip(kind):
    layer = _recurrent(kind, return_sequences=True, go_backwards=True)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = tf_keras.layers.serialize(layer)
    assert tf_keras.layers.deserialize(serialized).get_config() == config


def test_layer_config_carries_every_argument():
    layer = tfrnn.LSTM(
        3,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        use_bias=False,
        unit_forget_bias=False,
        kernel_regularizer="l2",
        recurrent_constraint="non_neg",
        dropout=0.25,
        recurrent_dropout=0.5,
        implementation=1,
        return_sequences=True,
        return_state=True,
        go_backwards=True,
        stateful=True,
        unroll=True,
        time_major=False,
        activity_regularizer="l1",
        name="configured",
    )
    clone = tfrnn.LSTM.from_config(layer.get_config())
    assert clone.name == "configured"
    for attr in (
        "units",
        "use_bias",
        "unit_forget_bias",
        "dropout",
        "recurrent_dropout",
        "implementation",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
    ):
        assert getattr(clone, attr) == getattr(layer, attr), attr
    assert clone.activation is tf_keras.activations.relu
    assert clone.recurrent_activation is tf_keras.activations.hard_sigmoid
    assert isinstance(clone.kernel_regularizer, tf_keras.regularizers.L2)
    assert isinstance(clone.recurrent_constraint, tf_keras.constraints.NonNeg)
    assert isinstance(clone.activity_regularizer, tf_keras.regularizers.L1)


@pytest.mark.parametrize(
    "cell",
    [
        lambda: tfrnn.SimpleRNNCell(3, activation="relu", dropout=0.1),
        lambda: tfrnn.GRUCell(3, reset_after=False, recurrent_activation="hard_sigmoid"),
        lambda: tfrnn.LSTMCell(3, unit_forget_bias=False, implementation=1),
        lambda: tfrnn.StackedRNNCells([tfrnn.GRUCell(2), tfrnn.LSTMCell(3)]),
    ],
    ids=["SimpleRNNCell", "GRUCell", "LSTMCell", "StackedRNNCells"],
)
def test_cell_config_round_trip(cell):
    cell = cell()
    config = cell.get_config()
    assert type(cell).from_config(config).get_config() == config
    restored = tf_keras.layers.deserialize(tf_keras.layers.serialize(cell))
    assert type(restored) is type(cell)
    assert restored.get_config() == config


def test_cell_config_round_trip_keeps_weights_compatible(rng):
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    layer = tfrnn.RNN(tfrnn.StackedRNNCells([tfrnn.GRUCell(2), tfrnn.LSTMCell(3)]))
    expected = layer(x)
    clone = tfrnn.RNN.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    _assert_close(clone(x), expected)


def _save(model, path):
    if path.endswith("weights.h5"):
        model.save_weights(path)
    else:
        model.save(path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["weights.h5", "model.h5", "model.keras"])
def test_weights_from_tf_keras_load_into_tfrnn(fmt, tmp_path, rng):
    reference = _model(SHARED_KINDS, lib=tf_keras)
    _randomize(reference, rng)
    x = _data(rng)
    path = str(tmp_path / fmt)
    _save(reference, path)
    ours = _model(SHARED_KINDS)
    ours.load_weights(path)
    _assert_close(ours(x), reference(x))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["weights.h5", "model.h5", "model.keras"])
def test_weights_from_tfrnn_load_into_tf_keras(fmt, tmp_path, rng):
    ours = _model(SHARED_KINDS)
    _randomize(ours, rng)
    x = _data(rng)
    path = str(tmp_path / fmt)
    _save(ours, path)
    reference = _model(SHARED_KINDS, lib=tf_keras)
    reference.load_weights(path)
    _assert_close(reference(x), ours(x))


def _model_with_symbolic_initial_state(lib):
    layers = lib if lib is tfrnn else tf_keras.layers
    inputs = tf_keras.Input((STEPS, FEATURES))
    context = tf_keras.Input((2,))
    h0 = tf_keras.layers.Dense(UNITS, activation="tanh")(context)
    c0 = tf_keras.layers.Dense(UNITS)(context)
    sequence, h, c = layers.LSTM(UNITS, return_sequences=True, return_state=True)(
        inputs, initial_state=[h0, c0]
    )
    outputs = layers.GRU(UNITS)(sequence, initial_state=h)
    return tf_keras.Model([inputs, context], [outputs, c])


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_symbolic_initial_state_model_round_trip(fmt, tmp_path, rng):
    model = _model_with_symbolic_initial_state(tfrnn)
    _randomize(model, rng)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    context = rng.normal(size=(BATCH, 2)).astype("float32")
    expected = model([x, context])
    path = str(tmp_path / f"model.{fmt}")
    model.save(path)
    restored = tf_keras.models.load_model(path)
    for got, want in zip(restored([x, context]), expected):
        _assert_close(got, want)
    # Same numbers as the tf_keras twin: the initial states were really used.
    reference = _model_with_symbolic_initial_state(tf_keras)
    reference.set_weights(model.get_weights())
    for got, want in zip(reference([x, context]), expected):
        _assert_close(got, want)
