"""Old Keras (0.x/1.x/2.0) argument spellings and their tf_keras names.

Pure data and one pure function: used both by the layer constructors
(``tfrnn.layers.legacy_args``) and by the config readers in ``tfrnn.compat``.
"""

from __future__ import annotations

from typing import Any

from tfrnn.compat.config_text import short

RECURRENT_RENAMES: dict[str, str] = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "consume_less": "implementation",
}
CONV_RENAMES: dict[str, str] = {
    "nb_filter": "filters",
    "subsample": "strides",
    "border_mode": "padding",
    "dim_ordering": "data_format",
    "bias": "use_bias",
}
CONSUME_LESS = {"cpu": 1, "mem": 1, "gpu": 2}
DIM_ORDERING = {"th": "channels_first", "tf": "channels_last", "default": None}


def modernize_kwargs(
    class_name: str, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Rename legacy recurrent-layer arguments in ``kwargs``.

    Returns the new kwargs and the ``(old, new)`` pairs that were translated.
    Raises TypeError when an old and a new spelling of one argument are both given.
    """
    out = dict(kwargs)
    done: list[tuple[str, str]] = []
    renames = dict(RECURRENT_RENAMES)
    if class_name.startswith("ConvLSTM"):
        renames.update(CONV_RENAMES)
        del renames["output_dim"]

    def put(old: str, new: str, value: Any) -> None:
        if new in out:
            raise TypeError(
                f"{class_name}: got both the legacy argument `{old}` and its modern "
                f"spelling `{new}`; pass only `{new}`."
            )
        out[new] = value
        done.append((old, new))

    for old, new in renames.items():
        if old not in out:
            continue
        value = out.pop(old)
        if old == "consume_less":
            if value not in CONSUME_LESS:
                raise ValueError(
                    f"{class_name}: `consume_less` must be 'cpu', 'mem' or 'gpu', got {short(value)}."
                )
            value = CONSUME_LESS[value]
        elif old == "dim_ordering":
            value = DIM_ORDERING.get(value, value)
        elif old == "border_mode" and isinstance(value, str):
            value = value.lower()
        put(old, new, value)
    if "forget_bias_init" in out:
        value = out.pop("forget_bias_init")
        put("forget_bias_init", "unit_forget_bias", value in ("one", "ones"))
    if "nb_row" in out or "nb_col" in out:
        if not ("nb_row" in out and "nb_col" in out):
            raise TypeError(f"{class_name}: `nb_row` and `nb_col` must be given together.")
        put("nb_row/nb_col", "kernel_size", (out.pop("nb_row"), out.pop("nb_col")))
    if "input_dim" in out or "input_length" in out:
        # As tf_keras: either one alone leaves the other axis unknown.
        shape = (out.pop("input_length", None), out.pop("input_dim", None))
        put("input_dim/input_length", "input_shape", shape)
    return out, done
