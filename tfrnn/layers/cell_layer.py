"""CellLayer: the shape of SimpleRNN, GRU and LSTM (an RNN that builds its
own cell from flat arguments and exposes them as attributes)."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import tf_keras
from tf_keras import regularizers

from tfrnn.compat.convert import convert_layer_weights
from tfrnn.layers.legacy_args import translate_legacy_kwargs
from tfrnn.layers.rnn import RNN

_RNN_ARGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "time_major",
)
_BASE_LAYER_KEYS = ("name", "trainable", "dtype")


def _cell_arg_names(cell_class: type) -> tuple[str, ...]:
    parameters = inspect.signature(cell_class.__init__).parameters
    return tuple(
        name
        for name, p in parameters.items()
        if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    )


class CellLayer(RNN):
    """An RNN over a cell of ``cell_class`` built from the layer's arguments."""

    cell_class: ClassVar[type]
    cell_name: ClassVar[str]
    _cell_args: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "cell_class" in cls.__dict__:
            cls._cell_args = _cell_arg_names(cls.cell_class)
            for name in cls._cell_args:
                if name not in cls.__dict__:
                    setattr(cls, name, property(lambda self, n=name: getattr(self.cell, n)))

    def __init__(self, units: int | None = None, **kwargs: Any) -> None:
        kwargs = translate_legacy_kwargs(type(self).__name__, kwargs)
        legacy_weights = kwargs.pop("weights", None)
        if units is None:
            units = kwargs.pop("units", None)
        cell_kwargs = {k: kwargs.pop(k) for k in self._cell_args if k in kwargs and k != "units"}
        rnn_kwargs = {k: kwargs.pop(k) for k in _RNN_ARGS if k in kwargs}
        if cell_kwargs.get("implementation") == 0:
            cell_kwargs["implementation"] = 1
        try:
            cell = self.cell_class(
                units,
                name=self.cell_name,
                dtype=kwargs.get("dtype"),
                trainable=kwargs.get("trainable", True),
                **cell_kwargs,
            )
        except (ValueError, TypeError) as err:
            # The cell's checks name the cell; say which layer the argument came from.
            layer_name = kwargs.get("name") or type(self).__name__
            raise type(err)(f"{type(self).__name__} layer '{layer_name}': {err}") from err
        super().__init__(cell, **rnn_kwargs, **kwargs)
        self.input_spec = tf_keras.layers.InputSpec(ndim=3)
        self._legacy_weights = legacy_weights

    def build(self, input_shape):
        super().build(input_shape)
        if self._legacy_weights is not None:
            # `weights=` in any Keras generation's layout, converted once the shapes exist.
            weights, self._legacy_weights = self._legacy_weights, None
            self.set_weights(
                convert_layer_weights(type(self).__name__, weights, self.get_config())
            )

    def call(self, inputs, mask=None, training=None, initial_state=None):
        return super().call(inputs, mask=mask, training=training, initial_state=initial_state)

    def get_config(self):
        cell_config = self.cell.get_config()
        for key in _BASE_LAYER_KEYS:
            cell_config.pop(key, None)
        config = super().get_config()
        del config["cell"]
        config.update(cell_config)
        config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
