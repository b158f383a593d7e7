"""tfrnn.keras3 follows Keras 3's conventions: registered names, `.keras`
and `.weights.h5` files (both ways with Keras 3's own layers), `fit` with
Keras 3's default jit_compile ("auto"), mixed precision, MirroredStrategy;
and what Keras 3 lacks (constants, ragged inputs, time_major) gives the
numbers of tfrnn's tf_keras layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from custom_cells import ConstantsCell as TfKerasConstantsCell
from keras3_cells import ConstantsCell
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn
import tfrnn.keras3

X = np.random.default_rng(7).normal(size=(4, 5, 3)).astype("float32")
Y = np.random.default_rng(8).normal(size=(4, 1)).astype("float32")


def model_of(recurrent_layers):
    return keras.Sequential([keras.Input((5, 3)), *recurrent_layers, keras.layers.Dense(1)])


def test_registered_names():
    for name in tfrnn.keras3.__all__:
        registered = keras.saving.get_registered_name(getattr(tfrnn.keras3, name))
        assert registered == f"tfrnn>{name}"
        assert keras.saving.get_registered_object(registered) is getattr(tfrnn.keras3, name)


def test_keras_file_round_trip(tmp_path):
    model = model_of(
        [
            tfrnn.keras3.GRU(4, return_sequences=True, reset_after=False, jit_compile=False),
            tfrnn.keras3.RNN(tfrnn.keras3.LSTMCell(3, recurrent_activation="hard_sigmoid")),
        ]
    )
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_array_equal(loaded(X), model(X))


@pytest.mark.parametrize("name", ["SimpleRNN", "GRU", "LSTM"])
def test_weights_files_interchange_with_keras3_layers(name, tmp_path):
    """`.weights.h5` written by a model of Keras 3's layers loads into the same
    model of tfrnn.keras3 layers, and back."""
    theirs = model_of([getattr(keras.layers, name)(4, return_sequences=True), keras.layers.GRU(2)])
    ours = model_of([getattr(tfrnn.keras3, name)(4, return_sequences=True), tfrnn.keras3.GRU(2)])
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(ours(X), theirs(X), atol=OUTPUT_TOL, rtol=0)
    for variable in ours.trainable_weights:
        variable.assign(variable * 0.5)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(theirs(X), ours(X), atol=OUTPUT_TOL, rtol=0)


@pytest.mark.parametrize("name,jit_compile", [("GRU", "auto"), ("LSTM", True)])
def test_fit_matches_keras3(name, jit_compile):
    """Two SGD steps move both models' weights alike, under `compile`'s
    default jit_compile ("auto": plain on a machine without a GPU, XLA on
    one) and with the train step compiled by XLA (True; Keras 3's own GRU
    and LSTM refuse it, for cuDNN, and train plain)."""
    theirs = model_of([getattr(keras.layers, name)(4)])
    ours = model_of([getattr(tfrnn.keras3, name)(4)])
    ours.set_weights(theirs.get_weights())
    for model in (theirs, ours):
        model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
        model.fit(X, Y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert ours.jit_compile is (jit_compile is True)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, reference, atol=GRAD_TOL, rtol=0)


def test_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        layer = tfrnn.keras3.LSTM(4, return_sequences=True)
        output = layer(X)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert output.dtype == tf.float16
    assert {w.dtype for w in layer.weights} == {"float32"}
    reference = tfrnn.keras3.LSTM(4, return_sequences=True)
    reference(X)
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(output, "float32"), reference(X), atol=1e-2)


def test_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = model_of([tfrnn.keras3.LSTM(4)])
        model.compile("sgd", "mse")
    before = model.get_weights()
    model.fit(X, Y, epochs=1, verbose=0)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(model.get_weights(), before))


# ------------------------------------------- what Keras 3's layers do not have
def tf_keras_twin(ours, twin):
    twin.set_weights(ours.get_weights())
    return twin


def test_time_major_matches_tf_keras_tfrnn():
    x = np.transpose(X, (1, 0, 2))
    ours = tfrnn.keras3.LSTM(4, time_major=True, return_sequences=True, return_state=True)
    ours(x)
    twin = tfrnn.LSTM(4, time_major=True, return_sequences=True, return_state=True)
    twin(x)
    tf_keras_twin(ours, twin)
    for a, b in zip(ours(x), twin(x)):
        np.testing.assert_allclose(a, b, atol=OUTPUT_TOL, rtol=0)


def test_ragged_matches_tf_keras_tfrnn():
    ragged = tf.RaggedTensor.from_row_lengths(X.reshape(-1, 3)[:9], [2, 4, 3])
    ours = tfrnn.keras3.GRU(4, return_sequences=True, go_backwards=True)
    twin = tfrnn.GRU(4, return_sequences=True, go_backwards=True)
    ours(ragged)
    twin(ragged)
    tf_keras_twin(ours, twin)
    output = ours(ragged)
    assert isinstance(output, tf.RaggedTensor)
    np.testing.assert_allclose(output.flat_values, twin(ragged).flat_values, atol=OUTPUT_TOL)


def test_constants_match_tf_keras_tfrnn():
    constant = tf.constant(np.linspace(-1, 1, 12).reshape(4, 3).astype("float32"))
    ours = tfrnn.keras3.RNN(ConstantsCell(2), return_sequences=True)
    twin = tfrnn.RNN(TfKerasConstantsCell(2), return_sequences=True)
    ours(X, constants=[constant])
    twin(X, constants=[constant])
    tf_keras_twin(ours, twin)
    with tf.GradientTape(persistent=True) as tape:
        mine, theirs = ours(X, constants=[constant]), twin(X, constants=[constant])
        losses = [tf.reduce_sum(mine**2), tf.reduce_sum(theirs**2)]
    np.testing.assert_allclose(mine, theirs, atol=OUTPUT_TOL, rtol=0)
    for a, b in zip(
        tape.gradient(losses[0], ours.trainable_weights),
        tape.gradient(losses[1], twin.trainable_weights),
    ):
        np.testing.assert_allclose(a, b, atol=GRAD_TOL, rtol=0)


def test_bidirectional_constants_match_tf_keras_tfrnn():
    constant = tf.constant(np.linspace(-1, 1, 12).reshape(4, 3).astype("float32"))
    ours = tfrnn.keras3.Bidirectional(tfrnn.keras3.RNN(ConstantsCell(2), return_sequences=True))
    twin = tfrnn.Bidirectional(tfrnn.RNN(TfKerasConstantsCell(2), return_sequences=True))
    ours(X, constants=[constant])
    twin(X, constants=[constant])
    tf_keras_twin(ours, twin)
    np.testing.assert_allclose(
        ours(X, constants=[constant]), twin(X, constants=[constant]), atol=OUTPUT_TOL, rtol=0
    )


@pytest.mark.parametrize("name", ["CuDNNLSTM", "CuDNNGRU"])
def test_cudnn_layers_match_tf_keras_tfrnn(name):
    kwargs = dict(return_sequences=True, return_state=True, go_backwards=True)
    ours, twin = getattr(tfrnn.keras3, name)(3, **kwargs), getattr(tfrnn, name)(3, **kwargs)
    ours(X)
    twin(X)
    tf_keras_twin(ours, twin)
    with tf.GradientTape(persistent=True) as tape:
        mine, theirs = ours(X), twin(X)
        losses = [tf.add_n([tf.reduce_sum(o**2) for o in out]) for out in (mine, theirs)]
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, atol=OUTPUT_TOL, rtol=0)
    for a, b in zip(
        tape.gradient(losses[0], ours.trainable_weights),
        tape.gradient(losses[1], twin.trainable_weights),
    ):
        np.testing.assert_allclose(a, b, atol=GRAD_TOL, rtol=0)


def test_errors_name_the_layer_and_the_fix():
    with pytest.raises(
        ValueError, match="Layer 'fast'.*use_cudnn=True.*activation must be 'tanh'"
    ):
        tfrnn.keras3.LSTM(3, activation="relu", use_cudnn=True, name="fast")
    with pytest.raises(ValueError, match="GRU layer 'g'.*unknown `recurrent_activation` 'nope'"):
        tfrnn.keras3.GRU(3, recurrent_activation="nope", name="g")
    with pytest.raises(ValueError, match="'s' is stateful.*batch_shape="):
        tfrnn.keras3.SimpleRNN(3, stateful=True, name="s")(keras.Input((5, 3)))
    with pytest.raises(
        ValueError, match="'m' .CuDNNLSTM. does not support masking.*Use tfrnn.keras3.LSTM"
    ):
        tfrnn.keras3.CuDNNLSTM(3, name="m")(X, mask=tf.ones((4, 5), bool))
