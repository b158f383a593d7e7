"""Where tf_keras and Keras 3 meet: recognising the other Keras's objects and
saying what to do instead of failing deep inside either Keras.

Imports neither Keras: an object can only belong to a Keras that is already
imported, so the modules are looked up in ``sys.modules``.
"""

from __future__ import annotations

import sys
from typing import Any

#: how to get each Keras's tfrnn layers, said in every error below
_FIX_FOR_KERAS3 = (
    "In TensorFlow 2.21 `tf.keras` (and `import keras`) is Keras 3 unless the environment "
    "variable TF_USE_LEGACY_KERAS=1 is set before TensorFlow is imported. Use "
    "`{keras3_name}` with Keras 3 objects, or set TF_USE_LEGACY_KERAS=1 before importing "
    "TensorFlow (or build the model with `tf_keras`) to keep `{tf_keras_name}`."
)
_FIX_FOR_TF_KERAS = (
    "Use `{tf_keras_name}` with tf_keras objects (`tf_keras`, or `tf.keras` when "
    "TF_USE_LEGACY_KERAS=1 was set before TensorFlow was imported), or build the model "
    "with Keras 3 (`keras`, `tf.keras` by default) to keep `{keras3_name}`."
)


def _keras3_module() -> Any:
    """The imported Keras 3 package, or None."""
    keras = sys.modules.get("keras")
    major = str(getattr(keras, "__version__", "0")).split(".")[0]
    return keras if major.isdigit() and int(major) >= 3 else None


def _tf_keras_classes() -> tuple[type, ...]:
    """tf_keras's layer and symbolic tensor classes, if tf_keras is imported."""
    tf_keras = sys.modules.get("tf_keras")
    tensors = sys.modules.get("tf_keras.src.engine.keras_tensor")
    if tf_keras is None or tensors is None:
        return ()
    return (tf_keras.layers.Layer, tensors.KerasTensor)


def keras3_kind(value: Any) -> str | None:
    """'KerasTensor' or 'layer' for a Keras 3 symbolic tensor or layer (cells
    are layers), else None."""
    keras = _keras3_module()
    if keras is None:
        return None
    if isinstance(value, keras.KerasTensor):
        return "KerasTensor"
    if isinstance(value, keras.Layer):
        return "layer"
    return None


def tf_keras_kind(value: Any) -> str | None:
    """'KerasTensor' or 'layer' for a tf_keras symbolic tensor or layer, else None."""
    classes = _tf_keras_classes()
    if not classes:
        return None
    layer, tensor = classes
    if isinstance(value, tensor):
        return "KerasTensor"
    if isinstance(value, layer):
        return "layer"
    return None


def tfrnn_class_name(obj: Any) -> str:
    """The name of the tfrnn class ``obj`` is (or derives from), e.g. 'LSTM'."""
    for klass in type(obj).__mro__:
        if klass.__module__.startswith("tfrnn."):
            return klass.__name__
    return type(obj).__name__


def _flat(values: Any) -> list:
    if isinstance(values, dict):
        return [v for value in values.values() for v in _flat(value)]
    if isinstance(values, (list, tuple)):
        return [v for value in values for v in _flat(value)]
    return [values]


def refuse_keras3_objects(owner: str, what: str, values: Any, class_name: str) -> None:
    """TypeError when ``values`` (nested lists allowed) hold a Keras 3 object
    given to the tf_keras-based ``tfrnn.<class_name>``; ``owner`` names the
    layer, ``what`` the argument."""
    for value in _flat(values):
        kind = keras3_kind(value)
        if kind is not None:
            raise TypeError(
                f"{owner}: `{what}` is a Keras 3 {kind} ({value!r}), but tfrnn.{class_name} "
                "is a tf_keras (Keras 2) layer and the two Kerases' objects do not mix. "
                + _FIX_FOR_KERAS3.format(
                    keras3_name=f"tfrnn.keras3.{class_name}", tf_keras_name=f"tfrnn.{class_name}"
                )
            )


def refuse_tf_keras_objects(owner: str, what: str, values: Any, class_name: str) -> None:
    """TypeError when ``values`` hold a tf_keras object given to the Keras 3
    ``tfrnn.keras3.<class_name>``; ``owner`` names the layer, ``what`` the argument."""
    for value in _flat(values):
        kind = tf_keras_kind(value)
        if kind is not None:
            raise TypeError(
                f"{owner}: `{what}` is a tf_keras (Keras 2) {kind} ({value!r}), but "
                f"tfrnn.keras3.{class_name} is a Keras 3 layer and the two Kerases' objects "
                "do not mix. "
                + _FIX_FOR_TF_KERAS.format(
                    keras3_name=f"tfrnn.keras3.{class_name}", tf_keras_name=f"tfrnn.{class_name}"
                )
            )


def refuse_keras3_arguments(receiver: Any, /, **arguments: Any) -> None:
    """``refuse_keras3_objects`` for each named argument given to the tf_keras
    tfrnn ``receiver`` (a layer or cell, or the class being constructed)."""
    name = receiver.__name__ if isinstance(receiver, type) else tfrnn_class_name(receiver)
    owner = name if isinstance(receiver, type) else f"{name} '{receiver.name}'"
    for what, values in arguments.items():
        refuse_keras3_objects(owner, what, values, name)


def refuse_keras3_caller(layer: Any, how: str) -> None:
    """TypeError for the tf_keras tfrnn ``layer`` called ``how`` Keras 3's
    code calls it (Keras 3 being imported), e.g. a tfrnn cell inside
    ``keras.layers.RNN``."""
    if _keras3_module() is None:
        return
    name = tfrnn_class_name(layer)
    raise TypeError(
        f"{name} '{layer.name}': {how}, as Keras 3's layers call it, but tfrnn.{name} is a "
        "tf_keras (Keras 2) cell and the two Kerases' objects do not mix (Keras 3 would "
        "neither track its weights nor train them). "
        + _FIX_FOR_KERAS3.format(keras3_name=f"tfrnn.keras3.{name}", tf_keras_name=f"tfrnn.{name}")
    )


def refuse_tf_keras_caller(layer: Any, how: str) -> None:
    """TypeError for the Keras 3 ``tfrnn.keras3`` ``layer`` called ``how``
    tf_keras's code calls it, e.g. a tfrnn.keras3 cell inside
    ``tf_keras.layers.RNN``."""
    name = tfrnn_class_name(layer)
    raise TypeError(
        f"{name} '{layer.name}': {how}, as tf_keras's layers call it, but "
        f"tfrnn.keras3.{name} is a Keras 3 cell and the two Kerases' objects do not mix "
        "(tf_keras would neither track its weights nor train them). "
        + _FIX_FOR_TF_KERAS.format(
            keras3_name=f"tfrnn.keras3.{name}", tf_keras_name=f"tfrnn.{name}"
        )
    )
