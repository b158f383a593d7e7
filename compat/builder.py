"""Build a model with tfrnn recurrent layers from a ModelSpec, in the Keras a
``Target`` names (tf_keras with ``tfrnn``, or Keras 3 with ``tfrnn.keras3``)."""

from __future__ import annotations

from typing import Any

from tfrnn.compat.layer_configs import LayerSpec
from tfrnn.compat.model_configs import ModelSpec
from tfrnn.compat.targets import Target

TFRNN_CLASSES = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D", "CuDNNLSTM", "CuDNNGRU")


def _tfrnn_class(target: Target, name: str, layer: str) -> type:
    cls = getattr(target.recurrent, name, None)
    if cls is None:
        raise ValueError(
            f"Layer '{layer}': the config needs {target.recurrent.__name__}.{name}, which "
            "this tfrnn does not provide."
        )
    return cls


def make_layer(spec: LayerSpec, target: Target) -> Any:
    """The layer object for one spec (wrappers build their inner layer too)."""
    config = target.adapt(spec.class_name, spec.config)
    if spec.class_name in TFRNN_CLASSES:
        return _tfrnn_class(target, spec.class_name, spec.name)(**config)
    if spec.class_name == "Bidirectional":
        cls = _tfrnn_class(target, "Bidirectional", spec.name)
        return cls(make_layer(spec.inner, target), **config)
    if spec.class_name == "TimeDistributed":
        return target.layers.TimeDistributed(make_layer(spec.inner, target), **config)
    return getattr(target.layers, spec.class_name)(**config)


def build_model(spec: ModelSpec, source_name: str, target: Target, name: str | None = None) -> Any:
    """Wire the layers, then set each layer's converted weights; a nested
    model (a spec with a ``submodel``) is built the same way, as a model
    named ``name``, and called as a layer."""
    tensors = {}
    layers = {}
    for layer in spec.layers:
        if layer.class_name == "InputLayer":
            if layer.input_shape is None:
                raise ValueError(f"{source_name}: input '{layer.name}' has no shape.")
            tensors[layer.name] = target.input(
                batch_shape=layer.input_shape, dtype=layer.config["dtype"], name=layer.name
            )
            continue
        if layer.submodel is not None:
            obj = build_model(layer.submodel, source_name, target, name=layer.name)
        else:
            obj = make_layer(layer, target)
        inputs = [tensors[inbound] for inbound in layer.inbound]
        tensors[layer.name] = obj(inputs[0] if len(inputs) == 1 else inputs)
        layers[layer.name] = obj
    model = target.model(
        target.structure([tensors[n] for n in spec.inputs]),
        target.structure([tensors[n] for n in spec.outputs]),
        name=name,
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
