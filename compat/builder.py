"""Build a tf_keras model with tfrnn recurrent layers from a ModelSpec."""

from __future__ import annotations

import tf_keras
from tfrnn.compat.layer_configs import LayerSpec
from tfrnn.compat.model_configs import ModelSpec

import tfrnn

TFRNN_CLASSES = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D", "CuDNNLSTM", "CuDNNGRU")


def _tfrnn_class(name: str, layer: str) -> type:
    cls = getattr(tfrnn, name, None)
    if cls is None:
        raise ValueError(
            f"Layer '{layer}': the config needs tfrnn.{name}, which this tfrnn does not provide."
        )
    return cls


def make_layer(spec: LayerSpec) -> tf_keras.layers.Layer:
    """The layer object for one spec (wrappers build their inner layer too)."""
    if spec.class_name in TFRNN_CLASSES:
        return _tfrnn_class(spec.class_name, spec.name)(**spec.config)
    if spec.class_name == "Bidirectional":
        cls = _tfrnn_class("Bidirectional", spec.name)
        return cls(make_layer(spec.inner), **spec.config)
    if spec.class_name == "TimeDistributed":
        return tf_keras.layers.TimeDistributed(make_layer(spec.inner), **spec.config)
    return getattr(tf_keras.layers, spec.class_name)(**spec.config)


def build_model(spec: ModelSpec, source_name: str, name: str | None = None) -> tf_keras.Model:
    """Wire the layers, then set each layer's converted weights; a nested
    model (a spec with a ``submodel``) is built the same way, as a model
    named ``name``, and called as a layer."""
    tensors = {}
    layers = {}
    for layer in spec.layers:
        if layer.class_name == "InputLayer":
            if layer.input_shape is None:
                raise ValueError(f"{source_name}: input '{layer.name}' has no shape.")
            tensors[layer.name] = tf_keras.Input(
                batch_shape=layer.input_shape, dtype=layer.config["dtype"], name=layer.name
            )
            continue
        if layer.submodel is not None:
            obj = build_model(layer.submodel, source_name, name=layer.name)
        else:
            obj = make_layer(layer)
        inputs = [tensors[inbound] for inbound in layer.inbound]
        tensors[layer.name] = obj(inputs[0] if len(inputs) == 1 else inputs)
        layers[layer.name] = obj
    model = tf_keras.Model(
        [tensors[n] for n in spec.inputs], [tensors[n] for n in spec.outputs], name=name
    )
    for layer in spec.layers:
        if layer.weights is None or layer.name not in layers:
            continue
        obj = layers[layer.name]
        expected = [tuple(w.shape) for w in obj.weights]
        got = [tuple(w.shape) for w in layer.weights]
        if expected != got:
            raise ValueError(
                f"{source_name}: layer '{layer.name}' ({layer.old_class}) expects weights of "
                f"shapes {expected} but the file's converted weights have shapes {got}; "
                "the config and the weights do not belong together."
            )
        obj.set_weights(layer.weights)
    return model
