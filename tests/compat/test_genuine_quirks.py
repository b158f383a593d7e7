"""What the old releases really wrote, quirks included (facts from their code,
read at keras-team/keras tags 0.3.3 and 1.2.2, and from tf_keras 2.21 itself)."""

import json

import numpy as np
import pytest
import tf_keras
from legacy_fixtures import write_keras0
from legacy_reference import lstm
from tfrnn.compat import load_legacy_model, load_legacy_weights

import tfrnn

B, T, D, U, VOCAB = 2, 6, 3, 4, 10


def _per_gate(rng, gates, d, u):
    return {
        g: (rng.normal(0, 0.5, (d, u)), rng.normal(0, 0.5, (u, u)), rng.normal(0, 0.5, u))
        for g in gates
    }


def _keras0_embedding_config(dropout, mask_zero):
    """Keras 0.3.3 Sequential.to_json of Embedding -> LSTM.

    Embedding.__init__ set ``kwargs['input_shape'] = (self.input_dim,)`` (the
    vocabulary size), and Layer.get_config wrote it as ``input_shape``; the real
    input is (batch, input_length) token ids."""
    embedding = {
        "name": "Embedding",
        "input_dim": VOCAB,
        "output_dim": D,
        "init": "uniform",
        "input_length": T,
        "mask_zero": mask_zero,
        "activity_regularizer": None,
        "W_regularizer": None,
        "W_constraint": None,
        "dropout": dropout,
        "input_shape": [VOCAB],
        "trainable": True,
        "cache_enabled": True,
    }
    recurrent = {
        "name": "LSTM",
        "input_dim": D,
        "output_dim": U,
        "init": "glorot_uniform",
        "inner_init": "orthogonal",
        "forget_bias_init": "one",
        "activation": "tanh",
        "inner_activation": "hard_sigmoid",
        "return_sequences": False,
        "input_length": None,
        "trainable": True,
        "cache_enabled": True,
    }
    return {"name": "Sequential", "layers": [embedding, recurrent], "class_mode": "categorical"}


@pytest.mark.parametrize("dropout,mask_zero", [(0.0, False), (0.25, True)])
def test_keras0_embedding_takes_token_ids_of_input_length(tmp_path, rng, dropout, mask_zero):
    W = rng.normal(0, 0.5, (VOCAB, D))
    gates = _per_gate(rng, "icfo", D, U)
    write_keras0(tmp_path / "w.h5", [[W], [w for g in "icfo" for w in gates[g]]])
    config = json.dumps(_keras0_embedding_config(dropout, mask_zero))
    model = load_legacy_model(tmp_path / "w.h5", config=config)
    assert tuple(model.input_shape) == (None, T)
    tokens = rng.integers(1, VOCAB, (B, T))
    tokens[0, 4:] = 0
    # 0.3.3 Embedding at inference: K.gather(W * (1 - dropout), X) (plain dropout).
    x = (W * (1.0 - dropout))[tokens]
    mask = (tokens != 0).astype(float) if mask_zero else None
    expected = lstm(x, gates, mask=mask)[:, -1]
    got = model.predict(tokens, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _tf_keras_bidirectional_cudnn(functional):
    """A model tf_keras 2.21 itself builds and saves on CPU (its CuDNN layers
    need a GPU only to run)."""
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM

    layers = [
        tf_keras.layers.Bidirectional(CuDNNLSTM(U, return_sequences=True)),
        tf_keras.layers.Bidirectional(CuDNNGRU(3), merge_mode="sum"),
    ]
    if not functional:
        return tf_keras.Sequential([tf_keras.Input((T, D)), *layers])
    inputs = tf_keras.Input((T, D))
    return tf_keras.Model(inputs, layers[1](layers[0](inputs)))


def _tf_keras_reference(weights_file):
    """tf_keras's own CuDNN -> LSTM/GRU conversion (its h5 loader) as the oracle."""
    model = tf_keras.Sequential(
        [
            tf_keras.Input((T, D)),
            tf_keras.layers.Bidirectional(tf_keras.layers.LSTM(U, return_sequences=True)),
            tf_keras.layers.Bidirectional(tf_keras.layers.GRU(3), merge_mode="sum"),
        ]
    )
    model.load_weights(weights_file)
    return model


@pytest.mark.parametrize("functional", [False, True])
def test_tf_keras_bidirectional_cudnn_files_load(tmp_path, rng, functional):
    source = _tf_keras_bidirectional_cudnn(functional)
    source.set_weights([rng.normal(0, 0.5, w.shape) for w in source.get_weights()])
    full, weights, config = tmp_path / "m.h5", tmp_path / "w.h5", tmp_path / "m.json"
    source.save(full)
    source.save_weights(weights)
    config.write_text(source.to_json())
    x = rng.normal(size=(B, T, D)).astype("float32")
    expected = _tf_keras_reference(weights).predict(x, verbose=0)
    for model in (load_legacy_model(full), load_legacy_model(weights, config=str(config))):
        wrapped = [layer.forward_layer for layer in model.layers[1:]]
        assert [type(w) for w in wrapped] == [tfrnn.CuDNNLSTM, tfrnn.CuDNNGRU]
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    names = [layer.name for layer in source.layers if layer.weights]
    plain = tf_keras.Sequential(
        [
            tf_keras.Input((T, D)),
            tfrnn.Bidirectional(tfrnn.LSTM(U, return_sequences=True), name=names[0]),
            tfrnn.Bidirectional(tfrnn.GRU(3), merge_mode="sum", name=names[1]),
        ]
    )
    load_legacy_weights(plain, weights)
    np.testing.assert_allclose(plain.predict(x, verbose=0), expected, atol=1e-5)


def _nested_models(lstm, gru):
    """Models inside a Sequential model, two levels deep, as tf_keras 2.21
    builds them: a Sequential with Bidirectional(lstm), then a functional model
    holding a Sequential with a SimpleRNN and Bidirectional(gru)."""
    inner = tf_keras.Sequential(
        [
            tf_keras.Input((T, D)),
            tf_keras.layers.Bidirectional(lstm(U, return_sequences=True)),
            tf_keras.layers.Dense(2),
        ],
        name="inner_sequential",
    )
    deeper = tf_keras.Sequential(
        [tf_keras.Input((T, 2)), tf_keras.layers.SimpleRNN(3, return_sequences=True)],
        name="deeper",
    )
    inputs = tf_keras.Input((T, 2))
    merged = tf_keras.layers.Bidirectional(gru(3), merge_mode="sum")(deeper(inputs))
    inner_functional = tf_keras.Model(inputs, merged, name="inner_functional")
    head = tf_keras.layers.Dense(1, name="head")
    return tf_keras.Sequential([tf_keras.Input((T, D)), inner, inner_functional, head])


def test_nested_models_with_bidirectional_cudnn_load(tmp_path, rng):
    """Nested Sequential and functional models (in a Sequential and in a
    functional model) holding Bidirectional(CuDNNLSTM/CuDNNGRU) and a plain
    recurrent layer, written by tf_keras itself; the oracle is tf_keras's own
    CuDNN -> LSTM/GRU conversion on loading the same weights."""
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM

    source = _nested_models(CuDNNLSTM, CuDNNGRU)
    source.set_weights([rng.normal(0, 0.5, w.shape) for w in source.get_weights()])
    full, weights, config = tmp_path / "m.h5", tmp_path / "w.h5", tmp_path / "m.json"
    source.save(full)
    source.save_weights(weights)
    config.write_text(source.to_json())
    oracle = _nested_models(tf_keras.layers.LSTM, tf_keras.layers.GRU)
    oracle.load_weights(weights)
    x = rng.normal(size=(B, T, D)).astype("float32")
    expected = oracle(x).numpy()
    for model in (load_legacy_model(full), load_legacy_model(weights, config=str(config))):
        inner, inner_functional = [layer for layer in model.layers if layer.weights][:2]
        assert type(inner.layers[-2].forward_layer) is tfrnn.CuDNNLSTM
        assert type(inner_functional.layers[-1].forward_layer) is tfrnn.CuDNNGRU
        np.testing.assert_allclose(model(x), expected, atol=1e-5)
    plain = _nested_models(tfrnn.LSTM, tfrnn.GRU)
    load_legacy_weights(plain, weights)
    np.testing.assert_allclose(plain(x), expected, atol=1e-5)
