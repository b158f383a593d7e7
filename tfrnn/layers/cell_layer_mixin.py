"""What SimpleRNN, GRU, LSTM and ConvLSTM are in either Keras: an RNN that
builds its own cell from flat arguments and exposes them as attributes.

Keras-free: tf_keras's ``CellLayer`` and Keras 3's ``tfrnn.keras3`` layers
mix it in before their RNN class and add their input spec and how they
serialize the activity regularizer.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from tfrnn.compat.convert import convert_layer_weights
from tfrnn.layers.legacy_args import translate_legacy_kwargs

RNN_ARGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "time_major",
    "jit_compile",
)
BASE_LAYER_KEYS = ("name", "trainable", "dtype")


def cell_arg_names(cell_class: type) -> tuple[str, ...]:
    """The keyword arguments a cell class takes, its tfrnn bases' included
    (a Keras's own Layer class ends the search)."""
    names: list[str] = []
    for klass in cell_class.__mro__:
        if klass.__module__.split(".")[0] in ("keras", "tf_keras"):
            break
        if "__init__" not in klass.__dict__:
            continue
        for name, p in inspect.signature(klass.__init__).parameters.items():
            keyword = p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            if name != "self" and keyword and name not in names:
                names.append(name)
    return tuple(names)


class CellLayerMixin:
    """An RNN over a cell of ``cell_class`` built from the layer's arguments.

    ``positional_args`` name the cell's leading arguments (``units``, or
    ``filters, kernel_size``); every other cell argument is a keyword and
    is exposed read-only as a layer attribute.
    """

    cell_class: ClassVar[type]
    cell_name: ClassVar[str]
    positional_args: ClassVar[tuple[str, ...]] = ("units",)
    _cell_args: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "cell_class" in cls.__dict__:
            cls._cell_args = cell_arg_names(cls.cell_class)
            for name in cls._cell_args:
                if not hasattr(cls, name):
                    setattr(cls, name, property(lambda self, n=name: getattr(self.cell, n)))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        layer_class = type(self).__name__
        if len(args) > len(self.positional_args):
            raise TypeError(
                f"{layer_class} takes {len(self.positional_args)} positional argument(s) "
                f"({', '.join(self.positional_args)}), got {len(args)}."
            )
        for name, value in zip(self.positional_args, args):
            if value is None:  # a subclass forwarding its own default
                continue
            if name in kwargs:
                raise TypeError(f"{layer_class} got `{name}` both by position and by name.")
            kwargs[name] = value
        kwargs = translate_legacy_kwargs(layer_class, kwargs)
        legacy_weights = kwargs.pop("weights", None)
        positional = [kwargs.pop(name, None) for name in self.positional_args]
        if None in positional:
            raise TypeError(
                f"{layer_class} needs {', '.join(f'`{n}`' for n in self.positional_args)}; got "
                + ", ".join(f"{n}={v!r}" for n, v in zip(self.positional_args, positional))
                + "."
            )
        cell_kwargs = {k: kwargs.pop(k) for k in self._cell_args if k in kwargs}
        rnn_kwargs = {k: kwargs.pop(k) for k in RNN_ARGS if k in kwargs}
        if cell_kwargs.get("implementation") == 0:
            cell_kwargs["implementation"] = 1
        try:
            cell = self.cell_class(
                *positional,
                name=self.cell_name,
                dtype=kwargs.get("dtype"),
                trainable=kwargs.get("trainable", True),
                **cell_kwargs,
            )
        except (ValueError, TypeError) as err:
            # The cell's checks name the cell; say which layer the argument came from.
            layer_name = kwargs.get("name") or layer_class
            raise type(err)(f"{layer_class} layer '{layer_name}': {err}") from err
        super().__init__(cell, **rnn_kwargs, **kwargs)
        self.input_spec = self.sequence_input_spec()
        self._legacy_weights = legacy_weights

    def sequence_input_spec(self) -> Any:
        """This Keras's InputSpec for a rank-3 sequence input."""
        raise NotImplementedError(f"{type(self).__name__} must define sequence_input_spec")

    def serialized_activity_regularizer(self) -> Any:
        """The activity regularizer as this Keras serializes it."""
        raise NotImplementedError(
            f"{type(self).__name__} must define serialized_activity_regularizer"
        )

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        if self._legacy_weights is not None:
            # `weights=` in any Keras generation's layout, converted once the shapes exist.
            weights, self._legacy_weights = self._legacy_weights, None
            self.set_weights(
                convert_layer_weights(type(self).__name__, weights, self.get_config())
            )

    def get_config(self):
        cell_config = self.cell.get_config()
        for key in BASE_LAYER_KEYS:
            cell_config.pop(key, None)
        config = super().get_config()
        del config["cell"]
        config.update(cell_config)
        config["activity_regularizer"] = self.serialized_activity_regularizer()
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)
