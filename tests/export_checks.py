"""Export checks run on a tf_keras model (tests/test_export.py) and on its
Keras 3 twin (tests/keras3/test_keras3_export.py) alike."""

import numpy as np
import pytest
from tolerances import OUTPUT_TOL

from tfrnn.export import export_tflite, run_tflite


def check_stateful_gru_streams(model, tmp_path, rng) -> None:
    """``model``: input 'x' (batch 2, time, 4) into a stateful GRU(4) 'gru' with
    return_sequences. TFLite refuses it without streaming; the streaming
    artifact, fed the states it returns, follows the model run after run."""
    with pytest.raises(ValueError, match="'gru'.*streaming=True"):
        export_tflite(model, tmp_path / "no.tflite")
    report = export_tflite(model, tmp_path / "s.tflite", streaming=True)
    assert report.max_abs_diff <= OUTPUT_TOL
    content = (tmp_path / "s.tflite").read_bytes()
    state = {"gru_h": np.zeros((2, 4), "float32")}
    for _ in range(2):  # the model carries its state; the artifact is fed it
        x = rng.standard_normal((2, 5, 4)).astype("float32")
        result = run_tflite(content, {"x": x, **state})
        np.testing.assert_allclose(
            result["gru"], np.asarray(model(x, training=False)), atol=OUTPUT_TOL
        )
        state = {"gru_h": result["gru_h"]}
