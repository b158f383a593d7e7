"""ConvLSTM2D files of Keras 1.x and 2.x, Theano- and TensorFlow-written, load
and predict what the old layer computed (numpy reference in the old layouts)."""

import warnings

import numpy as np
import pytest
from error_log import record
from legacy_fixtures import write_named
from legacy_reference import old_conv_lstm
from tfrnn.compat import detect_generation, load_legacy_model, load_legacy_weights

import tfrnn
from tfrnn.layers.legacy_args import translate_legacy_kwargs

TOL = 1e-5
B, T, C, R, F, K = 2, 3, 2, 5, 3, 3


def _check(model, x, expected, label):
    got = np.asarray(model.predict(x, verbose=0))
    assert got.shape == expected.shape, (got.shape, expected.shape)
    err = float(np.max(np.abs(got - expected)))
    record(label, err)
    assert err < TOL, err


def _keras1_gates(rng, ordering):
    """Per-gate (W, U, b) as Keras 1 ConvLSTM2D.build made them."""
    w_shape = (F, C, K, K) if ordering == "th" else (K, K, C, F)
    u_shape = (F, F, K, K) if ordering == "th" else (K, K, F, F)
    return {
        g: (rng.normal(0, 0.3, w_shape), rng.normal(0, 0.3, u_shape), rng.normal(0, 0.3, F))
        for g in "icfo"
    }


def _keras1_config(ordering, border_mode):
    shape = [None, T, C, R, R] if ordering == "th" else [None, T, R, R, C]
    layer = {
        "name": "convlstm2d_1",
        "nb_filter": F,
        "nb_row": K,
        "nb_col": K,
        "init": "glorot_uniform",
        "inner_init": "orthogonal",
        "forget_bias_init": "one",
        "activation": "tanh",
        "inner_activation": "hard_sigmoid",
        "dim_ordering": ordering,
        "border_mode": border_mode,
        # Keras 1 ConvLSTM2D.get_config wrote no subsample (nor regularizers or dropout).
        "return_sequences": True,
        "go_backwards": False,
        "stateful": False,
        "trainable": True,
        "batch_input_shape": shape,
        "input_dtype": "float32",
    }
    return {"class_name": "Sequential", "config": [{"class_name": "ConvLSTM2D", "config": layer}]}


def _keras1_weight_name(writer, name):
    """Keras 1 save_weights stored each weight's backend variable ``.name``: a
    TensorFlow variable's ends in ':0', a Theano shared variable's has no suffix;
    weights without a name were stored as 'param_{i}'."""
    return {"tensorflow": f"{name}:0", "theano": name}.get(writer, None)


# (dim_ordering, backend that wrote the file, backend= passed to the loader, border_mode)
KERAS1_CASES = [
    ("th", "theano", None, "valid"),  # the usual Theano file
    ("th", "tensorflow", None, "same"),
    ("tf", "tensorflow", None, "valid"),  # the usual TensorFlow file
    ("tf", "theano", None, "same"),  # read as TensorFlow-written before the name fingerprint
    ("tf", "theano", "theano", "valid"),
    ("tf", "unnamed", "theano", "same"),  # param_{i} names: only backend= can tell
    ("th", "unnamed", None, "valid"),  # ... or the dim_ordering guess (th -> theano)
]


@pytest.mark.parametrize("ordering,writer,stated,border_mode", KERAS1_CASES)
def test_keras1_convlstm2d(tmp_path, rng, ordering, writer, stated, border_mode):
    gates = _keras1_gates(rng, ordering)
    weights = [
        (_keras1_weight_name(writer, f"convlstm2d_1_{p}_{g}") or f"param_{k}", w)
        for k, (g, (p, w)) in enumerate((g, pw) for g in "icfo" for pw in zip("WUb", gates[g]))
    ]
    write_named(
        tmp_path / "m.h5",
        [("convlstm2d_1", weights)],
        keras_version="1.2.2",
        model_config=_keras1_config(ordering, border_mode),
    )
    gen = detect_generation(tmp_path / "m.h5")
    assert gen.generation == "keras1"
    assert gen.backend == (None if writer == "unnamed" else writer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_legacy_model(tmp_path / "m.h5", backend=stated)
    guessed = [w for w in caught if "do not record their backend" in str(w.message)]
    assert len(guessed) == (1 if writer == "unnamed" and stated is None else 0)
    writer = {"unnamed": stated or "theano"}.get(writer, writer)
    layer = model.get_layer("convlstm2d_1")
    assert isinstance(layer, tfrnn.ConvLSTM2D)
    assert layer.data_format == ("channels_first" if ordering == "th" else "channels_last")
    x_shape = (B, T, C, R, R) if ordering == "th" else (B, T, R, R, C)
    x = rng.standard_normal(x_shape).astype(np.float32)
    expected = old_conv_lstm(
        x, gates, ordering, ordering, border_mode, (1, 1), true_convolution=writer == "theano"
    )
    label = f"keras1 | ConvLSTM2D | dim_ordering={ordering}, {writer}-written, {border_mode}"
    _check(model, x, expected, label)


def _keras2_file(path, rng, writer, data_format, padding, strides, version):
    gates = {
        g: (
            rng.normal(0, 0.3, (K, K, C, F)),
            rng.normal(0, 0.3, (K, K, F, F)),
            rng.normal(0, 0.3, F),
        )
        for g in "ifco"
    }
    kernel, recurrent, bias = (
        np.concatenate([gates[g][p] for g in "ifco"], axis=-1) for p in range(3)
    )
    shape = [None, T, C, 7, 7] if data_format == "channels_first" else [None, T, 7, 7, C]
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [
                {
                    "class_name": "ConvLSTM2D",
                    "config": {
                        "name": "conv_lst_m2d_1",
                        "filters": F,
                        "kernel_size": [K, K],
                        "strides": list(strides),
                        "padding": padding,
                        "data_format": data_format,
                        "dilation_rate": [1, 1],
                        "activation": "tanh",
                        "recurrent_activation": "hard_sigmoid",
                        "use_bias": True,
                        "unit_forget_bias": True,
                        "return_sequences": True,
                        "go_backwards": False,
                        "stateful": False,
                        "dropout": 0.0,
                        "recurrent_dropout": 0.0,
                        "batch_input_shape": shape,
                        "dtype": "float32",
                    },
                }
            ],
        },
    }
    names = ["conv_lst_m2d_1/kernel:0", "conv_lst_m2d_1/recurrent_kernel:0"]
    write_named(
        path,
        [
            (
                "conv_lst_m2d_1",
                list(zip([*names, "conv_lst_m2d_1/bias:0"], [kernel, recurrent, bias])),
            )
        ],
        keras_version=version,
        backend=writer,
        model_config=config,
    )
    return gates, shape


@pytest.mark.parametrize(
    "writer,data_format,padding,strides,version",
    [
        ("theano", "channels_first", "same", (1, 1), "2.1.6"),
        ("tensorflow", "channels_last", "valid", (2, 2), "2.2.4"),
    ],
)
def test_keras2_convlstm2d(tmp_path, rng, writer, data_format, padding, strides, version):
    gates, shape = _keras2_file(
        tmp_path / "m.h5", rng, writer, data_format, padding, strides, version
    )
    gen = detect_generation(tmp_path / "m.h5")
    assert (gen.generation, gen.keras_version, gen.backend) == ("keras2", version, writer)
    model = load_legacy_model(tmp_path / "m.h5")
    x = rng.standard_normal((B, *shape[1:])).astype(np.float32)
    x_format = "th" if data_format == "channels_first" else "tf"
    expected = old_conv_lstm(
        x, gates, x_format, "tf", padding, strides, true_convolution=writer == "theano"
    )
    label = f"keras2 | ConvLSTM2D | {writer}-written, {data_format}, {padding}, strides={strides}"
    _check(model, x, expected, label)


def test_keras1_convlstm2d_weights_into_modern_model(tmp_path, rng):
    """load_legacy_weights: a Keras 1 'th' Theano file into a model built in code."""
    gates = _keras1_gates(rng, "th")
    weights = [(f"convlstm2d_1_{p}_{g}", w) for g in "icfo" for p, w in zip("WUb", gates[g])]
    write_named(tmp_path / "w.h5", [("convlstm2d_1", weights)])
    import tf_keras

    inp = tf_keras.Input((T, C, R, R))
    layer = tfrnn.ConvLSTM2D(
        F,
        (K, K),
        padding="same",
        data_format="channels_first",
        recurrent_activation="hard_sigmoid",
        return_sequences=True,
        name="convlstm2d_1",
    )
    model = tf_keras.Model(inp, layer(inp))
    load_legacy_weights(model, tmp_path / "w.h5", backend="theano")
    x = rng.standard_normal((B, T, C, R, R)).astype(np.float32)
    expected = old_conv_lstm(x, gates, "th", "th", "same", (1, 1), true_convolution=True)
    _check(model, x, expected, "keras1 | ConvLSTM2D | load_legacy_weights, th, theano-written")


def test_convlstm2d_legacy_spellings(rng):
    old = {
        "nb_filter": F,
        "nb_row": K,
        "nb_col": 2,
        "subsample": (1, 1),
        "border_mode": "Same",
        "dim_ordering": "th",
        "inner_activation": "hard_sigmoid",
        "forget_bias_init": "one",
        "dropout_W": 0.1,
        "dropout_U": 0.2,
        "return_sequences": True,
    }
    with pytest.warns(DeprecationWarning) as caught:
        kwargs = translate_legacy_kwargs("ConvLSTM2D", old)
    assert kwargs == {
        "filters": F,
        "kernel_size": (K, 2),
        "strides": (1, 1),
        "padding": "same",
        "data_format": "channels_first",
        "recurrent_activation": "hard_sigmoid",
        "unit_forget_bias": True,
        "dropout": 0.1,
        "recurrent_dropout": 0.2,
        "return_sequences": True,
    }
    messages = " ".join(str(w.message) for w in caught)
    for new in ("filters", "kernel_size", "strides", "padding", "data_format", "dropout"):
        assert f"use `{new}`" in messages
    with pytest.warns(DeprecationWarning, match="use `filters`"):
        legacy = tfrnn.ConvLSTM2D(**old)
    modern = tfrnn.ConvLSTM2D(**kwargs)
    assert legacy.get_config() | {"name": None} == modern.get_config() | {"name": None}
    x = rng.standard_normal((1, 2, C, 4, 4)).astype(np.float32)
    assert legacy(x).shape == (1, 2, F, 4, 4)
    with pytest.raises(TypeError, match="`nb_filter`.*`filters`"):
        translate_legacy_kwargs("ConvLSTM2D", {"nb_filter": 2, "filters": 2})
    with pytest.raises(TypeError, match="nb_row` and `nb_col"):
        tfrnn.ConvLSTM2D(nb_filter=2, nb_row=3)


def test_cli_backend_option(tmp_path, rng, capsys):
    """tfrnn-migrate --backend: a Keras 1 'th' file written by TensorFlow."""
    from tfrnn.compat.migrate import main

    gates = _keras1_gates(rng, "th")
    weights = [(f"convlstm2d_1_{p}_{g}", w) for g in "icfo" for p, w in zip("WUb", gates[g])]
    src = tmp_path / "old.h5"
    write_named(
        src,
        [("convlstm2d_1", weights)],
        keras_version="1.2.2",
        model_config=_keras1_config("th", "same"),
    )
    dst = tmp_path / "new.keras"
    assert main([str(src), "--backend", "tensorflow", "-o", str(dst)]) == 0
    assert "tensorflow backend (--backend)" in capsys.readouterr().out
    import tf_keras

    model = tf_keras.models.load_model(dst, compile=False)
    x = rng.standard_normal((B, T, C, R, R)).astype(np.float32)
    expected = old_conv_lstm(x, gates, "th", "th", "same", (1, 1), true_convolution=False)
    _check(model, x, expected, "keras1 | ConvLSTM2D | tfrnn-migrate --backend tensorflow, .keras")
    with pytest.raises(SystemExit) as exit_info:
        main([str(src), "--backend", "caffe", "-o", str(tmp_path / "x.keras")])
    assert exit_info.value.code == 2
    assert not (tmp_path / "x.keras").exists()
    with pytest.raises(ValueError, match="old.h5: backend must be one of"):
        load_legacy_model(src, backend="caffe")
