"""ConvLSTM1D/2D/3D against tf_keras's twins with identical weights."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tolerances import GRAD_TOL, OUTPUT_TOL

import tfrnn

SPATIAL = {1: (7,), 2: (6, 5), 3: (4, 5, 4)}
CHANNELS = 3
BATCH, STEPS = 2, 4


def _input_shape(rank: int, data_format: str) -> tuple[int, ...]:
    spatial = SPATIAL[rank]
    if data_format == "channels_first":
        return (BATCH, STEPS, CHANNELS, *spatial)
    return (BATCH, STEPS, *spatial, CHANNELS)


def _twins(rank: int, x: np.ndarray, rng, **kwargs):
    """tf_keras and tfrnn ConvLSTM{rank}D built on ``x``, same random weights."""
    name = f"ConvLSTM{rank}D"
    reference = getattr(tf_keras.layers, name)(**kwargs)
    ours = getattr(tfrnn, name)(**kwargs)
    reference(x)
    ours(x)
    weights = [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in ours.weights]
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


def _mask(rng) -> tf.Tensor:
    mask = rng.random((BATCH, STEPS)) > 0.3
    mask[:, 0] = True
    mask[0, -1] = False
    return tf.constant(mask)


def _run(layer, x, mask, initial_state=None):
    """Outputs (flattened) and gradients of a fixed scalar loss w.r.t. the input
    and every weight."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        kwargs = {} if initial_state is None else {"initial_state": initial_state}
        if initial_state is not None:
            tape.watch(initial_state)
        outputs = tf.nest.flatten(layer(x, mask=mask, **kwargs))
        loss = tf.add_n([_weighted_sum(o) for o in outputs])
    sources = [x, *layer.trainable_weights] + (initial_state or [])
    grads = tape.gradient(loss, sources)
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


def _weighted_sum(t: tf.Tensor) -> tf.Tensor:
    weights = tf.reshape(tf.sin(tf.range(tf.size(t), dtype=t.dtype)), tf.shape(t))
    return tf.reduce_sum(t * weights)


def _assert_same(reference_result, our_result):
    (ref_out, ref_grads), (our_out, our_grads) = reference_result, our_result
    assert len(ref_out) == len(our_out)
    for a, b in zip(ref_out, our_out):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, atol=OUTPUT_TOL, rtol=0)
    for a, b in zip(ref_grads, our_grads):
        np.testing.assert_allclose(b, a, atol=GRAD_TOL, rtol=0)


# rank, layer kwargs, masked: a grid where every option appears with the others.
GRID = [
    (2, dict(padding="valid"), False),
    (2, dict(padding="same", strides=2, return_sequences=True, return_state=True), False),
    (2, dict(padding="SAME", data_format="channels_first", return_state=True), True),
    (
        2,
        dict(
            padding="valid",
            dilation_rate=2,
            data_format="channels_first",
            go_backwards=True,
            return_sequences=True,
        ),
        False,
    ),
    (2, dict(padding="valid", strides=(2, 1), go_backwards=True, return_sequences=True), True),
    (2, dict(padding="same", dilation_rate=(1, 2), return_state=True, go_backwards=True), True),
    (
        2,
        dict(
            padding="same",
            use_bias=False,
            activation="relu",
            recurrent_activation="sigmoid",
            return_sequences=True,
        ),
        True,
    ),
    (1, dict(padding="valid", strides=2, return_sequences=True), False),
    (
        1,
        dict(
            padding="same",
            dilation_rate=2,
            data_format="channels_first",
            go_backwards=True,
            return_state=True,
        ),
        True,
    ),
    (3, dict(padding="same", return_state=True), True),
    (
        3,
        dict(
            padding="valid", data_format="channels_first", return_sequences=True, go_backwards=True
        ),
        False,
    ),
]


@pytest.mark.parametrize(
    "rank,kwargs,masked", GRID, ids=[f"{r}d-{i}" for i, (r, _, _) in enumerate(GRID)]
)
def test_matches_tf_keras(rank, kwargs, masked, rng):
    data_format = kwargs.get("data_format", "channels_last")
    x = rng.normal(size=_input_shape(rank, data_format)).astype("float32")
    reference, ours = _twins(rank, x, rng, filters=3, kernel_size=3, **kwargs)
    mask = _mask(rng) if masked else None
    _assert_same(_run(reference, x, mask), _run(ours, x, mask))
    assert ours.compute_output_shape(x.shape) == reference.compute_output_shape(x.shape)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_initial_state_matches_tf_keras(data_format, rng):
    x = rng.normal(size=_input_shape(2, data_format)).astype("float32")
    reference, ours = _twins(
        2, x, rng, filters=3, kernel_size=3, padding="same", data_format=data_format
    )
    state_shape = reference.compute_output_shape(x.shape)
    states = [tf.constant(rng.normal(size=state_shape).astype("float32")) for _ in range(2)]
    _assert_same(_run(reference, x, None, states), _run(ours, x, None, states))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_stateful_matches_tf_keras(data_format, rng):
    shape = _input_shape(2, data_format)
    x = rng.normal(size=shape).astype("float32")
    models = []
    for lib in (tf_keras.layers, tfrnn):
        model = tf_keras.Sequential(
            [lib.ConvLSTM2D(3, 3, stateful=True, data_format=data_format, batch_input_shape=shape)]
        )
        models.append(model)
    weights = [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in models[0].weights]
    for model in models:
        model.set_weights(weights)

    def three_calls(model):
        first, second = model(x).numpy(), model(x).numpy()
        model.layers[0].reset_states()
        return first, second, model(x).numpy()

    ref, ours = three_calls(models[0]), three_calls(models[1])
    for a, b in zip(ref, ours):
        np.testing.assert_allclose(b, a, atol=OUTPUT_TOL, rtol=0)
    assert not np.allclose(ours[0], ours[1])
    np.testing.assert_allclose(ours[2], ours[0], atol=OUTPUT_TOL, rtol=0)


@pytest.mark.parametrize("option", ["unroll", "time_major"])
def test_unroll_and_time_major(option, rng):
    x = rng.normal(size=_input_shape(2, "channels_last")).astype("float32")
    reference, _ = _twins(2, x, rng, filters=3, kernel_size=3, return_sequences=True)
    ours = tfrnn.ConvLSTM2D(3, 3, return_sequences=True, **{option: True})
    x_in = np.swapaxes(x, 0, 1) if option == "time_major" else x
    ours(x_in)
    ours.set_weights(reference.get_weights())
    out = ours(x_in).numpy()
    assert ours.compute_output_shape(x_in.shape) == out.shape
    if option == "time_major":
        out = np.swapaxes(out, 0, 1)
    np.testing.assert_allclose(out, reference(x).numpy(), atol=OUTPUT_TOL, rtol=0)


def test_unknown_spatial_sizes_in_a_graph(rng):
    x = rng.normal(size=(BATCH, STEPS, 6, 5, CHANNELS)).astype("float32")
    models = []
    for lib in (tf_keras.layers, tfrnn):
        inputs = tf_keras.Input((None, None, None, CHANNELS))
        outputs = lib.ConvLSTM2D(3, 3, strides=2, padding="same", return_state=True)(inputs)
        models.append(tf_keras.Model(inputs, outputs))
        assert models[-1].output_shape == [(None, None, None, 3)] * 3
    weights = [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in models[0].weights]
    for model in models:
        model.set_weights(weights)
    for size in ((6, 5), (3, 7)):
        x = rng.normal(size=(BATCH, STEPS, *size, CHANNELS)).astype("float32")
        for a, b in zip(models[0](x), models[1](x)):
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=OUTPUT_TOL, rtol=0)


def test_cell_runs_in_rnn(rng):
    x = rng.normal(size=_input_shape(2, "channels_last")).astype("float32")
    reference = tf_keras.layers.ConvLSTM2D(3, 3, return_sequences=True)
    ours = tfrnn.RNN(tfrnn.ConvLSTM2DCell(3, 3), return_sequences=True)
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), reference(x).numpy(), atol=OUTPUT_TOL, rtol=0)
    cell = tfrnn.cells.ConvLSTMCell(2, 3, 3)
    cell.build((BATCH, 6, 5, CHANNELS))
    h, (h2, c) = cell(x[:, 0], cell.get_initial_state(batch_size=BATCH, dtype=tf.float32))
    assert h.shape == c.shape == (BATCH, 4, 3, 3)


def test_dropout_only_in_training(rng):
    x = rng.normal(size=_input_shape(2, "channels_last")).astype("float32")
    kwargs = dict(filters=3, kernel_size=3, padding="same", dropout=0.4, recurrent_dropout=0.4)
    reference, ours = _twins(2, x, rng, **kwargs)
    np.testing.assert_allclose(
        ours(x, training=False).numpy(), reference(x).numpy(), atol=OUTPUT_TOL, rtol=0
    )
    with tf.GradientTape() as tape:
        trained = ours(x, training=True)
        loss = tf.reduce_sum(trained)
    assert trained.shape == (BATCH, 6, 5, 3)
    assert not np.allclose(trained.numpy(), ours(x, training=False).numpy())
    grads = tape.gradient(loss, ours.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_bidirectional_matches_tf_keras(rng):
    x = rng.normal(size=_input_shape(2, "channels_last")).astype("float32")
    reference = tf_keras.layers.Bidirectional(
        tf_keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    )
    ours = tf_keras.layers.Bidirectional(
        tfrnn.ConvLSTM2D(3, 3, padding="same", return_sequences=True)
    )
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    _assert_same(_run(reference, x, None), _run(ours, x, None))


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_tfrnn_bidirectional_with_states(merge_mode, rng):
    x = rng.normal(size=_input_shape(2, "channels_first")).astype("float32")
    kwargs = dict(data_format="channels_first", return_sequences=True, return_state=True)
    reference = tf_keras.layers.Bidirectional(
        tf_keras.layers.ConvLSTM2D(3, 3, **kwargs), merge_mode=merge_mode
    )
    ours = tfrnn.Bidirectional(tfrnn.ConvLSTM2D(3, 3, **kwargs), merge_mode=merge_mode)
    reference(x)
    ours(x)
    ours.set_weights(reference.get_weights())
    _assert_same(_run(reference, x, None), _run(ours, x, None))


def test_legacy_keras1_spellings():
    with pytest.warns(DeprecationWarning):
        layer = tfrnn.ConvLSTM2D(
            nb_filter=4, nb_row=3, nb_col=2, border_mode="same", subsample=(1, 1)
        )
    assert (layer.filters, layer.kernel_size, layer.padding) == (4, (3, 2), "same")


def _model(lib, data_format="channels_last"):
    inputs = tf_keras.Input(_input_shape(2, data_format)[1:])
    hidden = lib.ConvLSTM2D(
        3, 3, padding="same", data_format=data_format, return_sequences=True, name="clstm"
    )(inputs)
    outputs = lib.ConvLSTM2D(2, (2, 3), data_format=data_format, name="clstm_2")(hidden)
    return tf_keras.Model(inputs, outputs)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_save_and_load(fmt, tmp_path, rng):
    x = rng.normal(size=_input_shape(2, "channels_first")).astype("float32")
    model = _model(tfrnn, "channels_first")
    expected = model(x).numpy()
    path = str(tmp_path / ("model" if fmt == "savedmodel" else f"model.{fmt}"))
    model.save(path, **({"save_format": "tf"} if fmt == "savedmodel" else {}))
    tf_keras.backend.clear_session()
    loaded = tf_keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), expected, atol=OUTPUT_TOL, rtol=0)
    if fmt != "savedmodel":
        assert isinstance(loaded.get_layer("clstm"), tfrnn.ConvLSTM2D)


@pytest.mark.parametrize("suffix", ["h5", "ckpt"])
def test_weight_files_shared_with_tf_keras(suffix, tmp_path, rng):
    x = rng.normal(size=_input_shape(2, "channels_last")).astype("float32")
    reference, ours = _model(tf_keras.layers), _model(tfrnn)
    reference.save_weights(str(tmp_path / f"ref.{suffix}"))
    ours.load_weights(str(tmp_path / f"ref.{suffix}"))
    np.testing.assert_allclose(ours(x).numpy(), reference(x).numpy(), atol=OUTPUT_TOL, rtol=0)
    ours.set_weights([rng.normal(scale=0.3, size=w.shape) for w in ours.weights])
    ours.save_weights(str(tmp_path / f"ours.{suffix}"))
    reference.load_weights(str(tmp_path / f"ours.{suffix}"))
    np.testing.assert_allclose(reference(x).numpy(), ours(x).numpy(), atol=OUTPUT_TOL, rtol=0)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_config_round_trip(rank):
    cls = getattr(tfrnn, f"ConvLSTM{rank}D")
    layer = cls(
        5,
        2,
        padding="Same",
        dilation_rate=2,
        recurrent_activation="sigmoid",
        kernel_regularizer="l2",
        activity_regularizer="l1",
        dropout=0.1,
        return_state=True,
        go_backwards=True,
        name="conv",
    )
    config = layer.get_config()
    assert config["kernel_size"] == (2,) * rank and config["padding"] == "same"
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert clone.dilation_rate == (2,) * rank and clone.filters == 5
    reference_keys = set(getattr(tf_keras.layers, f"ConvLSTM{rank}D")(5, 2).get_config())
    assert reference_keys <= set(config)
    cell = getattr(tfrnn, f"ConvLSTM{rank}DCell")(4, 3, strides=2)
    assert type(cell).from_config(cell.get_config()).get_config() == cell.get_config()
    base = tfrnn.cells.ConvLSTMCell(rank, 4, 3)
    assert tfrnn.cells.ConvLSTMCell.from_config(base.get_config()).rank == rank


def test_tf_keras_config_builds_tfrnn_layer():
    config = tf_keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True).get_config()
    layer = tfrnn.ConvLSTM2D.from_config(config)
    assert layer.padding == "same" and layer.return_sequences and layer.filters == 4


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(padding="full"), "padding"),
        (dict(data_format="NCHW"), "data_format"),
        (dict(strides=2, dilation_rate=2), "cannot both be > 1"),
        (dict(kernel_size=(3, 3, 3)), "kernel_size"),
        (dict(filters=0), "filters"),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs = {"filters": 3, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=f"ConvLSTM2D layer 'enc'.*{match}"):
        tfrnn.ConvLSTM2D(name="enc", **kwargs)


def test_bad_inputs(rng):
    layer = tfrnn.ConvLSTM2D(3, 3, name="enc")
    with pytest.raises(ValueError, match="enc.*ndim=5"):
        layer(np.zeros((2, 4, 6, 3), "float32"))
    layer(np.zeros((2, 4, 6, 5, 3), "float32"))
    with pytest.raises(ValueError, match="enc.*expected shape"):
        layer(np.zeros((2, 4, 6, 5, 4), "float32"))
    with pytest.raises(ValueError, match="enc.*spatial axis 1.*size 2"):
        tfrnn.ConvLSTM2D(3, 3, name="enc")(np.zeros((2, 4, 6, 2, 3), "float32"))
    with pytest.raises(ValueError, match="enc.*size 5 along spatial axis 0.*size 3"):
        tfrnn.ConvLSTM2D(3, 3, dilation_rate=2, name="enc")(np.zeros((2, 4, 3, 9, 3), "float32"))
    with pytest.raises(ValueError, match="enc.*stateful.*spatial"):
        tfrnn.ConvLSTM2D(3, 3, stateful=True, name="enc")(
            tf_keras.Input((None, None, 5, 3), batch_size=2)
        )
