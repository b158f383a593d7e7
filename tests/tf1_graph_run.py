"""TF1 graph mode (``tf.compat.v1.disable_eager_execution()``, which holds for
the whole process) in a process of its own, for tests/test_drop_in.py.

``python tf1_graph_run.py`` prints one JSON line: for each case, the largest
difference between tf_keras's layer and tfrnn's given the same weights
("outputs", "weights" after training), or "error" with the message when
tfrnn's (or tf_keras's) raised.
"""

import json
import sys

import numpy as np
import tensorflow as tf
import tf_keras

import tfrnn

tf.compat.v1.disable_eager_execution()

BATCH, STEPS, FEATURES, UNITS = 2, 3, 4, 3


def _largest_difference(got: list, want: list) -> float:
    return max(float(np.max(np.abs(np.asarray(g) - np.asarray(w)))) for g, w in zip(got, want))


def stateful_predict(kind: str) -> dict:
    """Two predicts (the second starts from the states the first left),
    reset_states, a third (from zeros again); the states after each."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    runs = []
    models = []
    for module in (tf_keras.layers, tfrnn):
        if kind == "Bidirectional":
            layer = module.Bidirectional(module.SimpleRNN(UNITS, stateful=True))
        else:
            layer = getattr(module, kind)(UNITS, stateful=True)
        inputs = tf_keras.Input(batch_shape=(BATCH, STEPS, FEATURES))
        models.append(tf_keras.Model(inputs, layer(inputs)))
    models[1].set_weights(models[0].get_weights())
    for model in models:
        first = model.predict(x, verbose=0)
        second = model.predict(x, verbose=0)
        model.reset_states()
        third = model.predict(x, verbose=0)
        runs.append([first, second, third])
    (want, got) = runs
    return {
        "outputs": _largest_difference(got, want),
        "carried": float(np.max(np.abs(got[1] - got[0]))),
        "reset": float(np.max(np.abs(got[2] - got[0]))),
    }


def fit_in_default_graph(kind: str) -> dict:
    """tf_keras's own TF1 recipe: a model built and fitted from a tf.data
    dataset inside the default graph, control flow outputting its
    intermediates (TF1 while_v2 training)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, STEPS, FEATURES))
    y = rng.normal(size=(8, 1))
    tf.compat.v1.experimental.output_all_intermediates(True)
    try:
        weights = []
        initial = None
        for module in (tf_keras.layers, tfrnn):
            with tf.compat.v1.get_default_graph().as_default():
                inputs = tf_keras.Input((STEPS, FEATURES))
                hidden = getattr(module, kind)(UNITS)(inputs)
                model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(hidden))
                model.compile(tf_keras.optimizers.legacy.SGD(0.1), "mse")  # TF1 graphs take these
                if initial is None:
                    initial = model.get_weights()
                model.set_weights(initial)
                model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), verbose=0)
                weights.append(model.get_weights())
        return {"weights": _largest_difference(weights[1], weights[0])}
    finally:
        tf.compat.v1.experimental.output_all_intermediates(None)


CASES = {
    **{f"stateful_predict[{k}]": (stateful_predict, k) for k in ("SimpleRNN", "GRU", "LSTM")},
    "stateful_predict[Bidirectional]": (stateful_predict, "Bidirectional"),
    **{f"fit_in_default_graph[{k}]": (fit_in_default_graph, k) for k in ("GRU", "LSTM")},
}


def main() -> None:
    report = {}
    for name, (case, kind) in CASES.items():
        tf_keras.backend.clear_session()  # a fresh default graph for each case
        try:
            report[name] = case(kind)
        except Exception as err:  # reported to the test, which names the case
            report[name] = {"error": f"{type(err).__name__}: {str(err)[:500]}"}
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
