"""Keras 2 CuDNNLSTM / CuDNNGRU files load into tfrnn.CuDNNLSTM / CuDNNGRU, which
keep the cuDNN weight layout, and predict what cuDNN's equations give.

Layout facts (keras 2.2.4 engine/saving.py ``_convert_rnn_weights``): each gate
block of a CuDNN layer's kernel, read in C order, is cuDNN's (units, in) matrix
(Keras converts with ``kernel.T.reshape(kernel.shape, order='F')``); each
recurrent block is cuDNN's (units, units) matrix (``k.T``); bias = input
biases then recurrent biases, (8u,) for LSTM, (6u,) for GRU. Gate order in
the blocks: LSTM i, f, c, o; GRU z, r, h.
"""

import numpy as np
import pytest
import tf_keras
from error_log import record
from legacy_fixtures import write_named
from legacy_reference import cudnn_gru, cudnn_lstm, lstm
from tfrnn.compat import load_legacy_model, load_legacy_weights

import tfrnn

TOL = 1e-5
B, T, D, U1, U2 = 2, 5, 3, 4, 3


def _cudnn_weights(rng, gates, d, u):
    """cuDNN matrices per gate and the Keras CuDNN layer's buffers holding them."""
    Ws = {g: rng.normal(0, 0.5, (u, d)) for g in gates}
    Rs = {g: rng.normal(0, 0.5, (u, u)) for g in gates}
    bW = {g: rng.normal(0, 0.5, u) for g in gates}
    bR = {g: rng.normal(0, 0.5, u) for g in gates}
    # Keras reads a CuDNN kernel block c as c.T.reshape(c.shape, order='F') == W.T
    # exactly when c's C-order memory is the (u, d) cuDNN matrix W.
    kernel = np.concatenate([np.reshape(Ws[g], (d, u)) for g in gates], axis=1)
    recurrent = np.concatenate([Rs[g] for g in gates], axis=1)
    bias = np.concatenate([bW[g] for g in gates] + [bR[g] for g in gates])
    return (Ws, Rs, bW, bR), [kernel, recurrent, bias]


def _layer(cls, name, units, **extra):
    return {
        "class_name": cls,
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "return_sequences": False,
            "return_state": False,
            "go_backwards": False,
            "stateful": False,
            "kernel_initializer": {"class_name": "VarianceScaling", "config": {}},
            "kernel_regularizer": None,
            **extra,
        },
    }


def test_keras2_cudnn_lstm_gru_model_save(tmp_path, rng):
    ref_l, wl = _cudnn_weights(rng, "ifco", D, U1)
    ref_g, wg = _cudnn_weights(rng, "zrh", U1, U2)
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [
                _layer(
                    "CuDNNLSTM",
                    "cu_dnnlstm_1",
                    U1,
                    batch_input_shape=[None, T, D],
                    unit_forget_bias=True,
                    return_sequences=True,
                ),
                _layer("CuDNNGRU", "cu_dnngru_1", U2),
            ],
        },
    }
    names = ("kernel:0", "recurrent_kernel:0", "bias:0")
    write_named(
        tmp_path / "m.h5",
        [
            ("cu_dnnlstm_1", [(f"cu_dnnlstm_1/{n}", w) for n, w in zip(names, wl)]),
            ("cu_dnngru_1", [(f"cu_dnngru_1/{n}", w) for n, w in zip(names, wg)]),
        ],
        keras_version="2.2.4",
        backend="tensorflow",
        model_config=config,
    )
    model = load_legacy_model(tmp_path / "m.h5")
    lstm_layer, gru_layer = model.get_layer("cu_dnnlstm_1"), model.get_layer("cu_dnngru_1")
    assert isinstance(lstm_layer, tfrnn.CuDNNLSTM) and isinstance(gru_layer, tfrnn.CuDNNGRU)
    # Loaded unconverted: the layers keep the cuDNN layout.
    for layer, weights in ((lstm_layer, wl), (gru_layer, wg)):
        for got, want in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(got, want.astype(np.float32))
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    h = cudnn_lstm(x, *ref_l)
    expected = cudnn_gru(h, *ref_g)[:, -1]
    got = np.asarray(model.predict(x, verbose=0))
    err = float(np.max(np.abs(got - expected)))
    record("keras2 | CuDNNLSTM+CuDNNGRU | model.save, tensorflow 2.2.4, stacked", err)
    assert err < TOL, err


def test_keras2_lstm_weights_into_tfrnn_cudnn_lstm(tmp_path, rng):
    """A plain Keras 2 LSTM's weights are packed into CuDNNLSTM's layout."""
    g = {
        k: (rng.normal(0, 0.5, (D, U1)), rng.normal(0, 0.5, (U1, U1)), rng.normal(0, 0.5, U1))
        for k in "ifco"
    }
    k, r, b = (np.concatenate([g[q][p] for q in "ifco"], axis=-1) for p in range(3))
    write_named(
        tmp_path / "w.h5",
        [
            (
                "lstm_1",
                [("lstm_1/kernel:0", k), ("lstm_1/recurrent_kernel:0", r), ("lstm_1/bias:0", b)],
            )
        ],
        keras_version="2.2.4",
        backend="tensorflow",
    )
    inp = tf_keras.Input((T, D))
    model = tf_keras.Model(inp, tfrnn.CuDNNLSTM(U1, name="lstm_1")(inp))
    load_legacy_weights(model, tmp_path / "w.h5")
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    expected = lstm(x, g, inner="sigmoid")[:, -1]  # cuDNN's gates are sigmoid
    err = float(np.max(np.abs(np.asarray(model.predict(x, verbose=0)) - expected)))
    record("keras2 | LSTM weights -> CuDNNLSTM | load_legacy_weights", err)
    assert err < TOL, err


def test_gru_reset_before_weights_refused_by_cudnn_gru(tmp_path, rng):
    k, r, b = rng.normal(size=(D, 3 * U2)), rng.normal(size=(U2, 3 * U2)), rng.normal(size=3 * U2)
    write_named(
        tmp_path / "w.h5",
        [("gru_1", [("gru_1/kernel:0", k), ("gru_1/recurrent_kernel:0", r), ("gru_1/bias:0", b)])],
        keras_version="2.2.4",
        backend="tensorflow",
    )
    inp = tf_keras.Input((T, D))
    model = tf_keras.Model(inp, tfrnn.CuDNNGRU(U2, name="gru_1")(inp))
    with pytest.raises(
        ValueError, match="w.h5: CuDNNGRU cannot take these GRU weights.*reset_after"
    ):
        load_legacy_weights(model, tmp_path / "w.h5")
