"""What export reads of a model, from a tf_keras model of ``tfrnn`` layers or
a Keras 3 model of ``tfrnn.keras3`` layers alike.

Keras 3 is not imported here: a Keras 3 model exists only once ``keras`` is,
so it is looked up among the loaded modules.
"""

from __future__ import annotations

import sys
from typing import Any

import tensorflow as tf
import tf_keras

#: a tf_keras Model or a Keras 3 Model (the two Kerases share no base class)
KerasModel = Any


def keras3_module() -> Any:
    """The ``keras`` package when it is Keras 3 and loaded, else None."""
    keras = sys.modules.get("keras")
    version = str(getattr(keras, "__version__", ""))
    return keras if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 3 else None


def is_keras3_model(model: Any) -> bool:
    keras = keras3_module()
    return keras is not None and isinstance(model, keras.Model)


def is_keras_model(model: Any) -> bool:
    """A tf_keras or a Keras 3 model."""
    return isinstance(model, tf_keras.Model) or is_keras3_model(model)


def has_inputs(model: KerasModel) -> bool:
    """Whether ``model`` is built on defined inputs (a Keras 3 Sequential
    without them raises where tf_keras's gives None)."""
    try:
        return bool(model.built and model.inputs)
    except AttributeError:
        return False


def all_layers(model: KerasModel) -> list[Any]:
    """Every layer ``model`` holds, nested ones (cells, wrapped layers,
    nested models' layers) included."""
    if is_keras3_model(model):
        return list(model._flatten_layers(include_self=False, recursive=True))
    return [m for m in model.submodules if isinstance(m, tf_keras.layers.Layer)]


def tf_variables(model: KerasModel) -> list[tf.Variable]:
    """The model's variables as TensorFlow's (Keras 3 wraps each: artifacts must
    track the TensorFlow variable its functions read, or TFLite leaves it unset)."""
    if is_keras3_model(model):
        return [variable.value for variable in model.variables]
    return list(model.variables)


def input_names(model: KerasModel) -> list[str]:
    """The names of the model's inputs (its input layers')."""
    if is_keras3_model(model):
        return [tensor._keras_history[0].name for tensor in model.inputs]
    return list(model.input_names)


def output_names(model: KerasModel) -> list[str]:
    """The names of the model's outputs (the layers that give them)."""
    if is_keras3_model(model):
        return [tensor._keras_history[0].name for tensor in tf.nest.flatten(model.outputs)]
    return list(model.output_names)


def input_shape(tensor: Any) -> list[int | None]:
    """A model input's shape as a list (a TensorShape in tf_keras, a tuple in Keras 3)."""
    return tf.TensorShape(tensor.shape).as_list()


def input_dtype(tensor: Any) -> tf.DType:
    """A model input's dtype (a DType in tf_keras, a string in Keras 3)."""
    return tf.as_dtype(tensor.dtype)


def foreign_recurrent_classes() -> tuple[tuple[type, str], ...]:
    """(class, package of its tfrnn twin) of each Keras's own recurrent layer
    base, whose loops export cannot rewrite."""
    classes = [(tf_keras.layers.RNN, "tfrnn")]
    keras = keras3_module()
    if keras is not None:
        classes.append((keras.layers.RNN, "tfrnn.keras3"))
    return tuple(classes)
