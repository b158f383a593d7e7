"""Bad input: a ValueError or TypeError that names the layer and says what
was expected."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfrnn

X = np.zeros((2, 3, 4), "float32")
LAYERS = ["SimpleRNN", "GRU", "LSTM"]


@pytest.mark.parametrize("name", LAYERS)
def test_input_rank_not_3(name):
    layer = getattr(tfrnn, name)(3, name="rank_check")
    with pytest.raises(ValueError, match=r"rank_check.*expected ndim=3, found ndim=2"):
        layer(np.zeros((2, 4), "float32"))


def test_input_rank_not_3_symbolic_rnn_with_cell():
    layer = tfrnn.RNN(tfrnn.GRUCell(3), name="generic_rnn")
    with pytest.raises(ValueError, match=r"'generic_rnn' expects inputs of rank 3"):
        layer(tf_keras.Input((4,)))


def test_input_rank_not_3_bidirectional_names_wrapped_layer():
    layer = tfrnn.Bidirectional(tfrnn.LSTM(3, name="inner"), name="bidi")
    with pytest.raises(ValueError, match=r"inner.*rank 3"):
        layer(tf_keras.Input((4,)))


@pytest.mark.parametrize("generic", [False, True])
def test_feature_size_changed_after_build(generic):
    layer = (
        tfrnn.RNN(tfrnn.LSTMCell(3), name="feat") if generic else tfrnn.SimpleRNN(3, name="feat")
    )
    layer(X)
    with pytest.raises(ValueError, match=r"feat.*expected shape=\(None, None, 4\).*\(2, 3, 5\)"):
        layer(np.zeros((2, 3, 5), "float32"))


@pytest.mark.parametrize("units", [0, -2])
@pytest.mark.parametrize("name", LAYERS)
def test_units_not_positive(name, units):
    with pytest.raises(
        ValueError, match=rf"'bad_units'.*`units` must be a positive integer, got {units}"
    ):
        getattr(tfrnn, name)(units, name="bad_units")


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_cell_units_not_positive(cell):
    with pytest.raises(ValueError, match=r"'bad_cell'.*`units` must be a positive integer"):
        getattr(tfrnn, cell)(0, name="bad_cell")


@pytest.mark.parametrize("arg", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
@pytest.mark.parametrize("name", LAYERS)
def test_dropout_outside_unit_interval(name, arg, rate):
    with pytest.raises(ValueError, match=rf"'bad_rate'.*`{arg}` must be in \[0, 1\), got {rate}"):
        getattr(tfrnn, name)(3, name="bad_rate", **{arg: rate})


def test_dropout_not_a_number():
    with pytest.raises(TypeError, match=r"'bad_rate'.*`dropout` must be a float in \[0, 1\)"):
        tfrnn.LSTM(3, name="bad_rate", dropout="lots")


@pytest.mark.parametrize("arg", ["activation", "recurrent_activation"])
@pytest.mark.parametrize("name", ["GRU", "LSTM"])
def test_unknown_activation_name(name, arg):
    with pytest.raises(ValueError, match=rf"'bad_act'.*unknown `{arg}` 'tanhh'.*'tanh'"):
        getattr(tfrnn, name)(3, name="bad_act", **{arg: "tanhh"})


def test_unknown_activation_simple_rnn_cell():
    with pytest.raises(ValueError, match=r"'bad_act'.*unknown `activation` 'nope'"):
        tfrnn.SimpleRNNCell(3, activation="nope", name="bad_act")


@pytest.mark.parametrize("symbolic", [False, True])
def test_wrong_initial_state_count(symbolic):
    layer = tfrnn.LSTM(3, name="init_count")
    if symbolic:
        x, state = tf_keras.Input((3, 4)), tf_keras.Input((3,))
    else:
        x, state = X, np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"'init_count' has 2 state\(s\) but was passed 1"):
        layer(x, initial_state=[state])


@pytest.mark.parametrize("symbolic", [False, True])
def test_wrong_initial_state_shape(symbolic):
    layer = tfrnn.GRU(3, name="init_shape")
    if symbolic:
        x, state = tf_keras.Input((3, 4)), tf_keras.Input((5,))
    else:
        x, state = X, np.zeros((2, 5), "float32")
    with pytest.raises(
        ValueError, match=r"'init_shape': initial state 0 must have shape \[.*, 3\]"
    ):
        layer(x, initial_state=[state])


def test_bidirectional_odd_initial_state_count():
    layer = tfrnn.Bidirectional(tfrnn.LSTM(3), name="bidi_init")
    states = [np.zeros((2, 3), "float32")] * 3
    with pytest.raises(ValueError, match=r"'bidi_init'.*even count.*got 3"):
        layer(X, initial_state=states)


def test_stateful_without_fixed_batch_functional():
    with pytest.raises(
        ValueError, match=r"'stateful_layer' is stateful.*fixed batch size.*batch_input_shape"
    ):
        tfrnn.LSTM(3, stateful=True, name="stateful_layer")(tf_keras.Input((3, 4)))


def test_stateful_without_fixed_batch_sequential():
    with pytest.raises(ValueError, match=r"'stateful_layer' is stateful.*fixed batch size"):
        tf_keras.Sequential(
            [tfrnn.GRU(3, stateful=True, name="stateful_layer", input_shape=(3, 4))]
        )


def test_reset_states_wrong_shape():
    layer = tfrnn.SimpleRNN(3, stateful=True, batch_input_shape=(2, 3, 4), name="reset_me")
    layer(X)
    with pytest.raises(
        ValueError, match=r"'reset_me': state 0 must have shape \(2, 3\), got \(2, 4\)"
    ):
        layer.reset_states([np.zeros((2, 4), "float32")])
    with pytest.raises(ValueError, match=r"'reset_me' has 1 state\(s\) but reset_states got 2"):
        layer.reset_states([np.zeros((2, 3), "float32")] * 2)


@pytest.mark.parametrize("mask_shape", [(2, 4), (3, 3), (2, 3, 1)])
def test_mask_shape_not_matching_input(mask_shape):
    layer = tfrnn.LSTM(3, name="mask_check")
    with pytest.raises(
        ValueError, match=r"'mask_check': the mask must have shape \[2, 3\] \(batch, time\)"
    ):
        layer(X, mask=np.ones(mask_shape, bool))


def test_ragged_input_with_mask():
    ragged = tf.ragged.constant([[[1.0]], [[1.0], [2.0]]], ragged_rank=1)
    with pytest.raises(ValueError, match=r"'ragged_mask'.*RaggedTensor and a mask"):
        tfrnn.GRU(2, name="ragged_mask")(ragged, mask=tf.ones((2, 2), tf.bool))


def test_cell_without_call_rejected():
    with pytest.raises(ValueError, match=r"'not_a_cell'.*`call` method and a `state_size`"):
        tfrnn.RNN(object(), name="not_a_cell")


def test_constants_to_cell_that_takes_none():
    with pytest.raises(ValueError, match=r"takes no `constants`"):
        tfrnn.RNN(tfrnn.GRUCell(2))(X, constants=[np.zeros((2, 2), "float32")])
