"""Crafted hostile files: the readers refuse them fast, in bounded memory, with
errors naming the file; they never read another file or take text for a path.

Each file starts as a genuine Keras 2 model.save() layout (legacy_fixtures)
and is then altered with h5py the way an attacker would."""

import json
import resource
import time

import h5py
import numpy as np
import pytest
from legacy_fixtures import write_keras0, write_named
from tfrnn.compat import detect_generation, load_legacy_model, load_legacy_weights
from tfrnn.compat.migrate import main

import tfrnn

T, D, U = 5, 3, 4
SECRET = b"root:x:0:0:secret-password-line:/root:/bin/bash\n" * 4


def _config(units=U):
    layer = {"name": "lstm_1", "units": units, "batch_input_shape": [None, T, D]}
    return {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": layer}]}


def _weights(rng):
    return [
        ("lstm_1/kernel:0", rng.normal(0, 0.5, (D, 4 * U))),
        ("lstm_1/recurrent_kernel:0", rng.normal(0, 0.5, (U, 4 * U))),
        ("lstm_1/bias:0", rng.normal(0, 0.5, 4 * U)),
    ]


def _model_file(path, rng, **kwargs):
    write_named(
        path,
        [("lstm_1", _weights(rng))],
        keras_version="2.2.4",
        backend="tensorflow",
        model_config=kwargs.pop("model_config", _config()),
    )
    return path


KERNEL = "model_weights/lstm_1/lstm_1/kernel:0"


def _replace_kernel(path, make):
    """Swap the LSTM kernel dataset for what ``make(file, name)`` puts there."""
    with h5py.File(path, "r+") as f:
        del f[KERNEL]
        make(f, KERNEL)


def _refused(path, match, **kwargs):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match) as info:
        load_legacy_model(path, **kwargs)
    assert time.perf_counter() - start < 20
    assert str(path) in str(info.value)
    return str(info.value)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "passwd"
    path.write_bytes(SECRET)
    return path


def test_external_raw_storage_is_refused_and_never_copied(tmp_path, rng, secret, capsys):
    src = _model_file(tmp_path / "m.h5", rng)
    count = D * 4 * U

    def external(f, name):
        f.create_dataset(
            name, shape=(D, 4 * U), dtype="f4", external=[(str(secret), 0, count * 4)]
        )

    _replace_kernel(src, external)
    message = _refused(src, "external file")
    assert str(secret) in message
    assert main([str(src), "-o", str(tmp_path / "out.keras")]) == 2
    assert not (tmp_path / "out.keras").exists()
    assert "external" in capsys.readouterr().err
    with pytest.raises(ValueError, match="external"):
        detect_generation(src)


def test_external_link_and_virtual_dataset_are_refused(tmp_path, rng, secret):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("k", data=np.frombuffer(SECRET[: D * 4 * U * 4], "f4").reshape(D, 4 * U))
    linked = _model_file(tmp_path / "link.h5", rng)
    _replace_kernel(
        linked, lambda f, name: f.__setitem__(name, h5py.ExternalLink(str(other), "k"))
    )
    assert str(other) in _refused(linked, "external link")

    virtual = _model_file(tmp_path / "vds.h5", rng)

    def vds(f, name):
        layout = h5py.VirtualLayout(shape=(D, 4 * U), dtype="f4")
        layout[...] = h5py.VirtualSource(str(other), "k", shape=(D, 4 * U))
        f.create_virtual_dataset(name, layout)

    _replace_kernel(virtual, vds)
    _refused(virtual, "virtual dataset")


def test_soft_links_and_link_loops_are_refused(tmp_path, rng):
    soft = _model_file(tmp_path / "soft.h5", rng)
    with h5py.File(soft, "r+") as f:
        f["model_weights/lstm_1/copy"] = f[KERNEL]  # a hard link (second name) ...
        del f[KERNEL]
        f[KERNEL] = h5py.SoftLink("/model_weights/lstm_1/copy")  # ... reached softly
    _refused(soft, "soft link")
    loop = _model_file(tmp_path / "loop.h5", rng)
    with h5py.File(loop, "r+") as f:
        del f[KERNEL]
        f[KERNEL] = h5py.SoftLink("/model_weights/lstm_1/lstm_1/loop")
        f["model_weights/lstm_1/lstm_1/loop"] = h5py.SoftLink("/" + KERNEL)
    _refused(loop, "soft link")


def test_config_attribute_is_text_never_a_path(tmp_path, rng):
    good = tmp_path / "config.json"
    good.write_text(json.dumps(_config()))
    src = _model_file(tmp_path / "m.h5", rng)
    with h5py.File(src, "r+") as f:
        f.attrs["model_config"] = str(good).encode("utf8")
    _refused(src, "model_config")
    # The same path given by the user on purpose is read.
    weights_only = tmp_path / "w.h5"
    write_named(
        weights_only, [("lstm_1", _weights(rng))], keras_version="2.2.4", backend="tensorflow"
    )
    assert load_legacy_model(weights_only, config=str(good)).layers[-1].units == U


def _laughs(levels=9):
    text = 'l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    for k in range(1, levels):
        text += f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 10) + "]\n"
    return text + f"class_name: *l{levels - 1}\n"


def test_yaml_alias_bomb_and_deep_nesting_fail_fast(tmp_path, rng):
    weights_only = tmp_path / "w.h5"
    write_named(
        weights_only, [("lstm_1", _weights(rng))], keras_version="2.2.4", backend="tensorflow"
    )
    bomb = _laughs()
    assert len(bomb) < 600
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ValueError, match="expands to more than"):
        load_legacy_model(weights_only, config=bomb)
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(ValueError, match="bomb.yaml"):
        load_legacy_model(weights_only, config=str(tmp_path / "bomb.yaml"))
    for deep in ("[" * 100_000 + "]" * 100_000, "a: " + "[" * 100_000):
        (tmp_path / "deep.json").write_text(deep)
        with pytest.raises(ValueError, match="deep.json.*nested"):
            load_legacy_model(weights_only, config=str(tmp_path / "deep.json"))
    nested = _model_file(tmp_path / "m.h5", rng)
    with h5py.File(nested, "r+") as f:
        f.attrs["model_config"] = ("[" * 100_000 + "]" * 100_000).encode()
    _refused(nested, "nested")


@pytest.mark.parametrize("layout", ["chunked-compressed", "chunked", "contiguous"])
def test_declared_but_never_written_datasets_are_not_allocated(tmp_path, rng, layout):
    src = _model_file(tmp_path / "m.h5", rng)
    options = {
        "chunked-compressed": {"chunks": (1 << 14, 4 * U), "compression": "gzip"},
        "chunked": {"chunks": (1 << 14, 4 * U)},
        "contiguous": {},
    }[layout]
    shape = (10**12 // (4 * U), 4 * U) if options else (10**9 // (4 * U), 4 * U)
    _replace_kernel(
        src, lambda f, name: f.create_dataset(name, shape=shape, dtype="f4", **options)
    )
    assert src.stat().st_size < 64 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _refused(src, "declares .* bytes")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_one_dataset_named_many_times_is_refused(tmp_path, rng):
    src = _model_file(tmp_path / "m.h5", rng)
    with h5py.File(src, "r+") as f:
        group = f["model_weights/lstm_1"]
        group.attrs["weight_names"] = np.array([KERNEL.split("lstm_1/", 1)[1].encode()] * 1000)
    _refused(src, "more than once")
    aliased = _model_file(tmp_path / "alias.h5", rng)
    with h5py.File(aliased, "r+") as f:
        group = f["model_weights/lstm_1"]
        for k in range(3):
            group[f"lstm_1/alias{k}"] = group["lstm_1/kernel:0"]
        group.attrs["weight_names"] = np.array(
            [b"lstm_1/kernel:0"] + [f"lstm_1/alias{k}".encode() for k in range(3)]
        )
    _refused(aliased, "already read under another name")


def test_layer_names_repeating_one_layer_are_refused_fast(tmp_path, rng):
    src = _model_file(tmp_path / "m.h5", rng)
    with h5py.File(src, "r+") as f:
        root = f["model_weights"]
        del root.attrs["layer_names"]
        chunk = np.array([b"lstm_1"] * 100)
        for k in range(5000):
            root.attrs[f"layer_names{k}"] = chunk
    _refused(src, "'lstm_1' more than once")


@pytest.mark.parametrize("count", [500_000_000, 1e30, -3, 2.5, "many"])
def test_keras0_counts_beyond_the_file_are_refused(tmp_path, rng, count):
    src = tmp_path / "k0.h5"
    write_keras0(src, [[rng.normal(size=(D, U)), rng.normal(size=(U, U)), rng.normal(size=U)]])
    with h5py.File(src, "r+") as f:
        f["layer_0"].attrs["nb_params"] = count
    config = {
        "name": "Sequential",
        "layers": [{"name": "SimpleRNN", "output_dim": U, "input_shape": [T, D]}],
    }
    with pytest.raises(ValueError, match="nb_params"):
        load_legacy_model(src, config=config)
    with h5py.File(src, "r+") as f:
        f["layer_0"].attrs["nb_params"] = 3
        f.attrs["nb_layers"] = count
    with pytest.raises(ValueError, match="nb_layers"):
        load_legacy_model(src, config=config)


def test_config_that_does_not_fit_the_file_is_refused_before_building(tmp_path, rng, monkeypatch):
    src = _model_file(tmp_path / "m.h5", rng, model_config=_config(units=12000))

    def never(*args, **kwargs):
        raise AssertionError("the model was built before the shapes were compared")

    monkeypatch.setattr(tfrnn, "LSTM", never)
    assert "units=12000" in _refused(src, "do not belong together")


def test_non_finite_weights_warn_and_non_real_weights_are_refused(tmp_path, rng):
    src = _model_file(tmp_path / "nan.h5", rng)
    with h5py.File(src, "r+") as f:
        f[KERNEL][0, 0] = np.nan
        f[KERNEL][1, 1] = np.inf
    with pytest.warns(UserWarning, match=r"lstm_1.*kernel.*2 of 48 values are NaN or infinite"):
        load_legacy_model(src)
    complex_file = _model_file(tmp_path / "c.h5", rng)
    kernel = rng.normal(size=(D, 4 * U))
    _replace_kernel(complex_file, lambda f, n: f.create_dataset(n, data=kernel.astype("c8")))
    _refused(complex_file, "complex")
    for dtype in ("f2", "i4"):
        other = _model_file(tmp_path / f"{dtype}.h5", rng)
        _replace_kernel(other, lambda f, n, d=dtype: f.create_dataset(n, data=kernel.astype(d)))
        with pytest.warns(UserWarning, match="converted to float32"):
            model = load_legacy_model(other)
        np.testing.assert_array_equal(model.layers[-1].get_weights()[0], kernel.astype(dtype))


@pytest.mark.parametrize("where", ["layer_names", "weight_names", "keras_version"])
def test_non_utf8_names_name_the_file(tmp_path, rng, where):
    src = _model_file(tmp_path / "m.h5", rng)
    with h5py.File(src, "r+") as f:
        if where == "layer_names":
            f["model_weights"].attrs["layer_names"] = np.array([b"lstm\xff_1"])
        elif where == "weight_names":
            f["model_weights/lstm_1"].attrs["weight_names"] = np.array([b"k\xffernel"])
        else:
            f.attrs["keras_version"] = b"2.\xff"
    _refused(src, "UTF-8")


def test_load_legacy_weights_bounds_arrays_by_the_target_layer(tmp_path, rng):
    import tf_keras

    src = _model_file(tmp_path / "m.h5", rng)
    big = rng.normal(size=(4000, 4 * U)).astype("f4")  # really written: 256 kB
    _replace_kernel(src, lambda f, n: f.create_dataset(n, data=big))
    model = tf_keras.Sequential([tf_keras.Input((T, D)), tfrnn.LSTM(U, name="lstm_1")])
    with pytest.raises(ValueError, match="more than the .* the layer's weights hold"):
        load_legacy_weights(model, src)


def test_malformed_configs_are_value_errors(tmp_path, rng):
    weights_only = tmp_path / "w.h5"
    write_named(
        weights_only, [("lstm_1", _weights(rng))], keras_version="2.2.4", backend="tensorflow"
    )
    for config in (
        {"class_name": "Sequential", "config": [{"config": {}}]},
        {"class_name": ["x"] * 10**5, "config": []},
        {"class_name": "Sequential", "config": [{"class_name": {"a": 1}, "config": {}}]},
        {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": "x" * 10**6}]},
    ):
        with pytest.raises(ValueError) as info:
            load_legacy_model(weights_only, config=config)
        assert len(str(info.value)) < 600
