"""Where tf_keras-based tfrnn meets Keras 3 objects: a TypeError naming both
Kerases and the fix, instead of errors from deep inside either Keras; where
Keras 3 refuses before tfrnn's code runs, the README quotes its error."""

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfrnn
import tfrnn.keras3

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()


def assert_names_both_kerases(err: pytest.ExceptionInfo, class_name: str) -> None:
    message = str(err.value)
    assert "Keras 3" in message and "tf_keras" in message, message
    assert f"tfrnn.keras3.{class_name}" in message, message
    assert "TF_USE_LEGACY_KERAS=1" in message, message


LAYERS = [
    ("SimpleRNN", lambda: tfrnn.SimpleRNN(4)),
    ("GRU", lambda: tfrnn.GRU(4)),
    ("LSTM", lambda: tfrnn.LSTM(4)),
    ("RNN", lambda: tfrnn.RNN(tfrnn.LSTMCell(4))),
    ("CuDNNLSTM", lambda: tfrnn.CuDNNLSTM(4)),
    ("Bidirectional", lambda: tfrnn.Bidirectional(tfrnn.GRU(4))),
]


@pytest.mark.parametrize("class_name,make", LAYERS, ids=[n for n, _ in LAYERS])
def test_keras3_input_to_tf_keras_layer(class_name, make):
    with pytest.raises(TypeError, match="`inputs` is a Keras 3 KerasTensor") as err:
        make()(keras.Input((6, 3)))
    assert_names_both_kerases(err, class_name)


def test_keras3_input_to_conv_lstm():
    with pytest.raises(TypeError) as err:
        tfrnn.ConvLSTM2D(2, 3)(keras.Input((4, 5, 5, 1)))
    assert_names_both_kerases(err, "ConvLSTM2D")


def test_keras3_functional_model_with_tf_keras_layer():
    """The issue's `tf.keras` spelling: tf.keras is Keras 3 here."""
    assert tf.keras.Input is keras.Input
    inputs = tf.keras.Input((6, 3))
    with pytest.raises(TypeError, match="LSTM 'lstm") as err:
        tf.keras.Model(inputs, tfrnn.LSTM(8)(inputs))
    assert_names_both_kerases(err, "LSTM")


def test_keras3_initial_state_to_tf_keras_layer():
    states = [keras.Input((4,)), keras.Input((4,))]
    with pytest.raises(TypeError, match="`initial_state` is a Keras 3 KerasTensor") as err:
        tfrnn.LSTM(4)(tf.zeros((2, 6, 3)), initial_state=states)
    assert_names_both_kerases(err, "LSTM")


def test_keras3_input_to_tf_keras_cell():
    with pytest.raises(TypeError, match="LSTMCell 'lstm_cell") as err:
        tfrnn.LSTMCell(4)(keras.Input((3,)), [keras.Input((4,)), keras.Input((4,))])
    assert_names_both_kerases(err, "LSTMCell")


def test_keras3_layer_in_tf_keras_bidirectional():
    with pytest.raises(TypeError, match="`layer` is a Keras 3 layer") as err:
        tfrnn.Bidirectional(tf.keras.layers.LSTM(4))
    assert_names_both_kerases(err, "Bidirectional")
    with pytest.raises(TypeError, match="`backward_layer` is a Keras 3 layer"):
        tfrnn.Bidirectional(
            tfrnn.LSTM(4), backward_layer=tf.keras.layers.LSTM(4, go_backwards=True)
        )


@pytest.mark.parametrize("as_list", [False, True])
def test_keras3_cell_given_to_tf_keras_rnn(as_list):
    cell = tf.keras.layers.LSTMCell(4)
    with pytest.raises(TypeError, match="`cell` is a Keras 3 layer") as err:
        tfrnn.RNN([tfrnn.GRUCell(2), cell] if as_list else cell)
    assert_names_both_kerases(err, "RNN")


def test_keras3_cell_in_tf_keras_stacked_cells():
    with pytest.raises(TypeError, match="`cells` is a Keras 3 layer") as err:
        tfrnn.StackedRNNCells([tfrnn.LSTMCell(2), keras.layers.SimpleRNNCell(4)])
    assert_names_both_kerases(err, "StackedRNNCells")


def test_tf_keras_cell_run_by_keras3_rnn():
    """Keras 3's RNN asks a cell for its states with a batch size alone, which
    is where tfrnn's code first meets it."""
    layer = keras.layers.RNN(tfrnn.LSTMCell(4))
    with pytest.raises(TypeError, match="get_initial_state was given `batch_size` alone") as err:
        layer(np.zeros((2, 6, 3), "float32"))
    assert_names_both_kerases(err, "LSTMCell")


@pytest.mark.parametrize(
    "build,quoted",
    [
        (
            lambda: keras.Sequential([tfrnn.LSTM(8), keras.layers.Dense(1)]),
            "Only instances of `keras.Layer` can be added to a Sequential model",
        ),
        (
            lambda: keras.layers.Bidirectional(tfrnn.LSTM(4)),
            "Please initialize `Bidirectional` layer with a `keras.layers.Layer` instance",
        ),
        (
            lambda: keras.layers.TimeDistributed(tfrnn.LSTM(4)),
            "Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance",
        ),
    ],
    ids=["Sequential", "Bidirectional", "TimeDistributed"],
)
def test_keras3_refusals_are_quoted_in_readme(build, quoted):
    """Keras 3 checks the class before tfrnn's code runs; the README quotes
    its words and says what to do."""
    with pytest.raises(ValueError, match=re.escape(quoted)):
        build()
    section = README.split("## Keras 3", 1)[1]
    assert quoted in section
    assert "TF_USE_LEGACY_KERAS=1" in section and "tfrnn.keras3" in section


def test_tf_keras_objects_pass():
    """No Keras 3 object, no refusal: the same calls with tf_keras objects work."""
    import tf_keras

    inputs = tf_keras.Input((6, 3))
    states = [tf_keras.Input((4,)), tf_keras.Input((4,))]
    output = tfrnn.Bidirectional(tfrnn.LSTM(4))(inputs, initial_state=states + states)
    assert tf_keras.Model([inputs, *states], output).output_shape == (None, 8)
    assert tfrnn.RNN([tfrnn.GRUCell(2), tfrnn.LSTMCell(4)])(np.zeros((2, 3, 1), "f")).shape == (
        2,
        4,
    )


# ---------------------------------------------------------------- the reverse
def assert_names_tf_keras_fix(err: pytest.ExceptionInfo, class_name: str) -> None:
    message = str(err.value)
    assert "Keras 3" in message and "tf_keras" in message, message
    assert f"`tfrnn.{class_name}`" in message and f"tfrnn.keras3.{class_name}" in message


def test_tf_keras_input_to_keras3_layer():
    import tf_keras

    with pytest.raises(TypeError, match="`inputs` is a tf_keras .Keras 2. KerasTensor") as err:
        tfrnn.keras3.LSTM(4)(tf_keras.Input((6, 3)))
    assert_names_tf_keras_fix(err, "LSTM")
    with pytest.raises(TypeError, match="LSTMCell 'lstm_cell") as err:
        tfrnn.keras3.LSTMCell(4)(tf_keras.Input((3,)), [tf_keras.Input((4,))] * 2)
    assert_names_tf_keras_fix(err, "LSTMCell")


@pytest.mark.parametrize("foreign", ["tfrnn", "tf_keras"])
def test_tf_keras_cell_given_to_keras3_rnn(foreign):
    import tf_keras

    cell = tfrnn.LSTMCell(4) if foreign == "tfrnn" else tf_keras.layers.LSTMCell(4)
    with pytest.raises(TypeError, match="`cell` is a tf_keras .Keras 2. layer") as err:
        tfrnn.keras3.RNN(cell)
    assert_names_tf_keras_fix(err, "RNN")


def test_keras3_cell_run_by_tf_keras_rnn():
    import tf_keras

    layer = tf_keras.layers.RNN(tfrnn.keras3.GRUCell(4))
    with pytest.raises(TypeError, match="as tf_keras's layers call it") as err:
        layer(np.zeros((2, 6, 3), "float32"))
    assert_names_tf_keras_fix(err, "GRUCell")


def test_keras3_layer_in_tf_keras_wrappers_is_refused_by_tf_keras():
    """tf_keras checks the class before tfrnn's code runs (README quotes it)."""
    import tf_keras

    with pytest.raises(TypeError, match="The added layer must be an instance of class Layer"):
        tf_keras.Sequential([tfrnn.keras3.LSTM(4)])
    section = README.split("## Keras 3", 1)[1]
    assert "The added layer must be an instance of class Layer" in section


def test_keras3_wrappers_take_keras3_layers():
    """Keras 3's own Sequential, Bidirectional and TimeDistributed take tfrnn.keras3 layers."""
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    wrapped = keras.layers.Bidirectional(tfrnn.keras3.LSTM(4, return_sequences=True))
    assert wrapped(x).shape == (2, 6, 8)
    model = keras.Sequential(
        [keras.Input((2, 6, 3)), keras.layers.TimeDistributed(tfrnn.keras3.GRU(4))]
    )
    assert model.output_shape == (None, 2, 4)


@pytest.mark.parametrize(
    "build",
    [lambda: tfrnn.keras3.RNN("MyCell"), lambda: tfrnn.keras3.StackedRNNCells(["MyCell"])],
    ids=["RNN", "StackedRNNCells"],
)
def test_unknown_cell_name_gives_keras3_advice(build):
    """A cell class's name in place of a cell: the advice names Keras 3's
    registration, not tf_keras's."""
    with pytest.raises(ValueError, match=r"'MyCell'.*unknown") as caught:
        build()
    assert "@keras.saving.register_keras_serializable()" in str(caught.value)
    assert "tf_keras" not in str(caught.value)
