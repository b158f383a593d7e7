"""Behaviour a drop-in user relies on, found by running tf_keras's own RNN tests
against tfrnn (scripts/peer_suite.py); each case compared with tf_keras."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from custom_cells import ConstantsCell

import tfrnn

LAYERS = {
    "LSTM": lambda m: m.LSTM(4, return_sequences=True),
    "GRU": lambda m: m.GRU(4, return_sequences=True),
    "SimpleRNN": lambda m: m.SimpleRNN(4, return_sequences=True),
    "Bidirectional": lambda m: m.Bidirectional(m.LSTM(4, return_sequences=True)),
    "RNN(cells)": lambda m: m.RNN([m.GRUCell(3), m.LSTMCell(4)], return_sequences=True),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("training", [None, True])
def test_symbolic_outputs_keep_the_static_time_length(name, masked, training):
    shapes = []
    for module in (tf_keras.layers, tfrnn):
        x = tf_keras.Input((3, 5))
        if masked:
            x = tf_keras.layers.Masking()(x)
        shapes.append(tuple(LAYERS[name](module)(x, training=training).shape))
    assert shapes[1] == shapes[0] == (None, 3, shapes[0][-1])


def test_conv_lstm_sequence_keeps_the_static_time_length():
    x = tf_keras.Input((3, 6, 6, 2))
    got = tfrnn.ConvLSTM2D(4, 3, padding="same", return_sequences=True)(x)
    assert tuple(got.shape) == (None, 3, 6, 6, 4)


def test_return_sequences_then_flatten_dense_trains():
    model = tf_keras.Sequential(
        [
            tf_keras.Input((3, 5)),
            tfrnn.LSTM(4, return_sequences=True),
            tf_keras.layers.Flatten(),
            tf_keras.layers.Dense(1),
        ]
    )
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3, 5)), np.ones((4, 1)), verbose=0, epochs=2)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("batch_size", [10, 5])
def test_one_unit_layers_train_like_tf_keras(kind, batch_size, rng):
    """SimpleRNN(1) once tripped a oneDNN MatMul+Add fusion in its gradient."""
    x = rng.normal(size=(10, 3, 6)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    models = []
    for module in (tf_keras.layers, tfrnn):
        model = tf_keras.Sequential([tf_keras.Input((3, 6)), getattr(module, kind)(1)])
        model.compile(tf_keras.optimizers.SGD(0.1), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    for want, got in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kind", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_cells_called_directly_return_states_as_tf_keras(kind, rng):
    x = rng.normal(size=(2, 3)).astype("float32")
    cells = [getattr(module, kind)(4) for module in (tf_keras.layers, tfrnn)]
    for cell in cells:
        cell.build(x.shape)
    cells[1].set_weights(cells[0].get_weights())
    results = []
    for cell in cells:
        initial = cell.get_initial_state(batch_size=2, dtype=tf.float32)
        as_list = initial if kind == "LSTMCell" else [initial]
        results.append((initial, cell(x, initial), cell(x, as_list)))
    (want_init, *want_calls), (got_init, *got_calls) = results
    assert type(got_init) is type(want_init)
    for (want_out, want_states), (got_out, got_states) in zip(want_calls, got_calls):
        assert type(got_states) is type(want_states)
        np.testing.assert_allclose(got_out, want_out, atol=1e-6)
        for want, got in zip(tf.nest.flatten(want_states), tf.nest.flatten(got_states)):
            np.testing.assert_allclose(got, want, atol=1e-6)
    with pytest.raises(ValueError):
        cells[0].get_initial_state(None, None, None)
    with pytest.raises(ValueError, match="batch_size"):
        cells[1].get_initial_state(None, None, None)


def _copy_weights(source, target):
    target.set_weights(source.get_weights())


@pytest.mark.parametrize("wrapper", ["RNN", "Bidirectional"])
@pytest.mark.parametrize("symbolic", [True, False])
def test_constants_given_as_one_tensor(wrapper, symbolic, rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    c = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    outputs = []
    for module in (tf_keras.layers, tfrnn):
        layer = module.RNN(ConstantsCell(4))
        if wrapper == "Bidirectional":
            layer = module.Bidirectional(layer)
        if symbolic:
            xs, cs = tf_keras.Input((4, 5)), tf_keras.Input((3,))
            model = tf_keras.Model([xs, cs], layer(xs, constants=cs))
            assert len(layer.input) == 2  # the constants are an input of the layer
        else:
            layer(x, constants=c)
        outputs.append((model if symbolic else layer, layer))
    _copy_weights(outputs[0][1], outputs[1][1])
    want, got = (
        (run.predict([x, c], verbose=0) if symbolic else run(x, constants=c)) for run, _ in outputs
    )
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_stacked_cells_ignore_constants_they_do_not_take(rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    c = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    layers = [module.RNN([module.GRUCell(3)]) for module in (tf_keras.layers, tfrnn)]
    want = layers[0](x, constants=[c])
    layers[1](x, constants=[c])
    _copy_weights(layers[0], layers[1])
    np.testing.assert_allclose(layers[1](x, constants=[c]), want, atol=1e-5)


@pytest.mark.parametrize("wrapper", ["LSTM", "Bidirectional"])
def test_symbolic_initial_states_are_inputs_of_the_layer(wrapper, rng, tmp_path):
    x = rng.normal(size=(2, 3, 5)).astype("float32")
    count = 4 if wrapper == "Bidirectional" else 2
    states = [rng.normal(size=(2, 4)).astype("float32") for _ in range(count)]
    models = []
    for module in (tf_keras.layers, tfrnn):
        layer = module.LSTM(4)
        if wrapper == "Bidirectional":
            layer = module.Bidirectional(layer)
        inputs = [tf_keras.Input((3, 5))] + [tf_keras.Input((4,)) for _ in range(count)]
        output = layer(inputs[0], initial_state=inputs[1:])
        assert len(layer.input) == 1 + count
        models.append(tf_keras.Model(inputs, output))
    _copy_weights(models[0], models[1])
    want = models[0].predict([x, *states], verbose=0)
    np.testing.assert_allclose(models[1].predict([x, *states], verbose=0), want, atol=1e-5)
    models[1].save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict([x, *states], verbose=0), want, atol=1e-5)


class OnesStateCell(tf_keras.layers.Layer):
    """A cell whose own get_initial_state starts from ones; it passes its state on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.state_size = 2

    def call(self, inputs, states):
        return states[0] + 0.0 * tf.reduce_sum(inputs), [states[0]]

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        return tf.ones([batch_size, 2], dtype)


def test_stateful_layer_starts_from_the_cells_initial_state():
    got = []
    for module in (tf_keras.layers, tfrnn):
        layer = module.RNN(OnesStateCell(), stateful=True)
        model = tf_keras.Sequential([tf_keras.Input((3, 1), batch_size=2), layer])
        model.predict(np.zeros((2, 3, 1)), verbose=0)
        got.append([np.asarray(s) for s in layer.states])
    np.testing.assert_array_equal(got[1], got[0])
    np.testing.assert_array_equal(got[1][0], np.ones((2, 2)))


def test_reverse_state_order_lists_states_last_cell_first(rng):
    x = tf.constant(rng.normal(size=(2, 4, 5)), tf.float32)
    shapes = []
    for module in (tf_keras.layers, tfrnn):
        cells = module.StackedRNNCells(
            [module.LSTMCell(3), module.GRUCell(2)], reverse_state_order=True
        )
        layer = module.RNN(cells, return_state=True)
        shapes.append([tuple(s) for s in layer.compute_output_shape((None, 4, 5))])
    assert shapes[1] == shapes[0] == [(None, 2), (None, 2), (None, 3), (None, 3)]
    natural = tfrnn.RNN(tfrnn.StackedRNNCells([tfrnn.LSTMCell(3), tfrnn.GRUCell(2)]))
    output, gru_state, (lstm_h, lstm_c) = layer(x)
    natural(x)
    natural.set_weights(layer.get_weights())
    np.testing.assert_allclose(natural(x), output, atol=1e-6)
    np.testing.assert_allclose(gru_state, output, atol=1e-6)
    assert lstm_h.shape == lstm_c.shape == (2, 3)
    config = tf_keras.layers.serialize(layer)
    assert tf_keras.layers.deserialize(config).cell.reverse_state_order


def test_tf_keras_only_arguments_are_accepted_and_kept():
    for module in (tf_keras.layers, tfrnn):
        layer = module.SimpleRNN(5, input_length=10)
        assert layer.get_config()["batch_input_shape"] == (None, 10, None)
        lstm = module.LSTM(3, enable_caching_device=False)
        config = lstm.get_config()
        assert config["enable_caching_device"] is False
        assert "enable_caching_device" not in module.LSTM(3).get_config()
        assert type(lstm).from_config(config).get_config() == config


def test_a_single_symbolic_initial_state_tensor():
    x, state = tf_keras.Input((3, 5)), tf_keras.Input((4,))
    layer = tfrnn.GRU(4)
    layer(x, initial_state=state)
    assert len(layer.input) == 2
