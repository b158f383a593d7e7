"""The Keras a rebuilt model is made of: tf_keras with tfrnn's layers
(``keras=2``, the default) or Keras 3 with ``tfrnn.keras3``'s (``keras=3``).

Only the chosen Keras is imported, when a model is built: ``import
tfrnn.compat`` imports none of tfrnn's Keras 3 code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

KERAS_CHOICES = (2, 3)
#: the config keys that name an activation in the layers compat rebuilds
ACTIVATION_KEYS = ("activation", "recurrent_activation")


def check_keras(keras: Any) -> int:
    """``keras`` (2: tf_keras, 3: Keras 3) or a ValueError saying what to pass."""
    if isinstance(keras, int) and not isinstance(keras, bool) and keras in KERAS_CHOICES:
        return keras
    raise ValueError(
        f"keras must be 2 (a tf_keras model of tfrnn layers, the default) or 3 (a Keras 3 "
        f"model of tfrnn.keras3 layers), got {keras!r}."
    )


@dataclass(frozen=True)
class Target:
    """What a Keras builds a model from.

    ``layers``: its layers module (Dense, Embedding, ...); ``recurrent``:
    tfrnn's recurrent layers for it (``tfrnn`` or ``tfrnn.keras3``);
    ``adapt``: a layer's modern (tf_keras-spelled) config -> the one this
    Keras's class takes with the same numbers; ``keeps_nesting``: a model
    made on a one-element list returns a one-element list (Keras 3), so one
    input or output is given alone.
    """

    name: str
    layers: ModuleType
    recurrent: ModuleType
    input: Callable[..., Any]
    model: Callable[..., Any]
    adapt: Callable[[str, dict[str, Any]], dict[str, Any]]
    keeps_nesting: bool

    def structure(self, tensors: list) -> Any:
        """A model's inputs or outputs as this Keras should get them."""
        return tensors[0] if self.keeps_nesting and len(tensors) == 1 else tensors


def target(keras: int) -> Target:
    """The Target of ``keras`` (checked by ``check_keras``)."""
    if check_keras(keras) == 2:
        import tf_keras

        import tfrnn

        return Target(
            "tf_keras", tf_keras.layers, tfrnn, tf_keras.Input, tf_keras.Model, _as_is, False
        )
    try:
        import tfrnn.keras3  # first: it says what is wrong with the Keras 3 installed
    except ImportError as err:
        raise ValueError(f"keras=3 cannot be served here: {err}") from None
    import keras as keras3

    return Target(
        "Keras 3", keras3.layers, tfrnn.keras3, keras3.Input, keras3.Model, _for_keras3, True
    )


def _as_is(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return config


def _for_keras3(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Keras 2's ``hard_sigmoid`` (slope 0.2, what old files mean by it) becomes
    ``tfrnn.keras3.activations.keras2_hard_sigmoid``: Keras 3's own has slope
    1/6. Embedding's ``input_length``, which Keras 3 deprecates, is dropped
    (the model's input shape holds the length)."""
    from tfrnn.keras3.activations import keras2_hard_sigmoid

    config = dict(config)
    for key in ACTIVATION_KEYS:
        if config.get(key) == "hard_sigmoid":
            config[key] = keras2_hard_sigmoid
    if class_name == "Embedding":
        config.pop("input_length", None)
    return config
