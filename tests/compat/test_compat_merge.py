"""Keras 1 Sequential models whose first layer is a Merge of sub-Sequential models.

Facts (keras 1.x keras/models.py, engine/topology.py): Sequential.get_config is a
list of layer configs; a leading Merge's config is Merge.get_config (name, mode,
mode_type, concat_axis, dot_axes, output_shape, output_shape_type, output_mask,
output_mask_type, arguments) plus 'layers': the sub-models as
{'class_name': 'Sequential', 'config': [...]}. save_weights writes the layers
of Sequential.flattened_layers: the sub-models' layers in branch order, then
the layers after the Merge; the Merge itself has no group.
"""

import json

import numpy as np
import pytest
from error_log import record
from legacy_fixtures import write_named
from legacy_reference import gru, lstm
from tfrnn.compat import load_legacy_model

TOL = 1e-5
B, T, D1, D2, U = 2, 4, 3, 2, 4

COMBINE = {
    "concat": lambda a, b: np.concatenate([a, b], -1),
    "sum": np.add,
    "mul": np.multiply,
    "ave": lambda a, b: (a + b) / 2,
}


def _per_gate(rng, gates, d):
    return {
        g: (rng.normal(0, 0.5, (d, U)), rng.normal(0, 0.5, (U, U)), rng.normal(0, 0.5, U))
        for g in gates
    }


def _layer(cls, **cfg):
    return {"class_name": cls, "config": cfg}


def _merge_config(mode):
    left = [
        _layer(
            "LSTM",
            name="lstm_1",
            output_dim=U,
            batch_input_shape=[None, T, D1],
            input_dim=D1,
            input_length=T,
            consume_less="cpu",
            activation="tanh",
            inner_activation="hard_sigmoid",
            return_sequences=False,
            trainable=True,
            input_dtype="float32",
        )
    ]
    right = [
        _layer(
            "GRU",
            name="gru_1",
            output_dim=U,
            batch_input_shape=[None, T, D2],
            input_dim=D2,
            input_length=T,
            consume_less="gpu",
            activation="tanh",
            inner_activation="hard_sigmoid",
            return_sequences=False,
            trainable=True,
            input_dtype="float32",
        )
    ]
    merge = {
        "name": "merge_1",
        "mode": mode,
        "mode_type": "raw",
        "concat_axis": -1,
        "dot_axes": -1,
        "output_shape": None,
        "output_shape_type": "raw",
        "output_mask": None,
        "output_mask_type": "raw",
        "arguments": {},
        "layers": [
            {"class_name": "Sequential", "config": left},
            {"class_name": "Sequential", "config": right},
        ],
    }
    dense = _layer("Dense", name="dense_1", output_dim=2, activation="linear", bias=True)
    return {
        "class_name": "Sequential",
        "config": [{"class_name": "Merge", "config": merge}, dense],
    }


@pytest.mark.parametrize(
    "mode,kind",
    [
        ("concat", "model.save"),
        ("sum", "save_weights"),
        ("mul", "model.save"),
        ("ave", "save_weights"),
    ],
)
def test_keras1_sequential_merge_of_sequentials(tmp_path, rng, mode, kind):
    gl, gg = _per_gate(rng, "icfo", D1), _per_gate(rng, "zrh", D2)
    width = 2 * U if mode == "concat" else U
    Wd, bd = rng.standard_normal((width, 2)), rng.standard_normal(2)
    lstm_weights = [(f"lstm_1_{p}_{g}", w) for g in "icfo" for p, w in zip("WUb", gl[g])]
    gru_weights = list(
        zip(
            ["gru_1_W", "gru_1_U", "gru_1_b"],
            [np.concatenate([gg[g][p] for g in "zrh"], axis=-1) for p in range(3)],
        )
    )
    # flattened_layers order; the Merge has no group of its own.
    layers = [
        ("lstm_1", lstm_weights),
        ("gru_1", gru_weights),
        ("dense_1", [("dense_1_W", Wd), ("dense_1_b", bd)]),
    ]
    config = _merge_config(mode)
    if kind == "model.save":
        write_named(tmp_path / "m.h5", layers, keras_version="1.2.2", model_config=config)
        model = load_legacy_model(tmp_path / "m.h5")
    else:
        write_named(tmp_path / "m.h5", layers)
        model = load_legacy_model(tmp_path / "m.h5", config=json.dumps(config))
    assert [t.name.split(":")[0] for t in model.inputs] == ["lstm_1_input", "gru_1_input"]
    x1 = rng.standard_normal((B, T, D1)).astype(np.float32)
    x2 = rng.standard_normal((B, T, D2)).astype(np.float32)
    merged = COMBINE[mode](lstm(x1, gl)[:, -1], gru(x2, gg)[:, -1])
    expected = merged @ Wd + bd
    got = np.asarray(model.predict([x1, x2], verbose=0))
    assert got.shape == expected.shape
    err = float(np.max(np.abs(got - expected)))
    record(f"keras1 | LSTM+GRU | Sequential(Merge of Sequentials, mode={mode}), {kind}", err)
    assert err < TOL, err


def test_keras1_merge_branch_must_be_sequential(tmp_path, rng):
    config = _merge_config("sum")
    config["config"][0]["config"]["layers"][1] = _layer("Dense", name="d", output_dim=U)
    write_named(tmp_path / "m.h5", [("lstm_1", [])])
    with pytest.raises(ValueError, match="Merge branches must be Sequential"):
        load_legacy_model(tmp_path / "m.h5", config=json.dumps(config))


def test_keras1_merge_mode_dot_refused(tmp_path):
    config = _merge_config("dot")
    write_named(tmp_path / "m.h5", [("lstm_1", [])])
    with pytest.raises(ValueError, match="Merge mode 'dot' is not supported"):
        load_legacy_model(tmp_path / "m.h5", config=json.dumps(config))
