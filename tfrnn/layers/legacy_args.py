"""Old Keras (0.x/1.x/2.0) constructor spellings, translated to tf_keras's."""

from __future__ import annotations

import warnings
from typing import Any

from tfrnn.compat.spellings import modernize_kwargs


def translate_legacy_kwargs(class_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return ``kwargs`` with legacy argument names mapped to modern ones.

    Each translated name raises a DeprecationWarning naming the modern spelling,
    e.g. ``output_dim`` -> ``units``, ``consume_less='gpu'`` -> ``implementation=2``,
    ``forget_bias_init='one'`` -> ``unit_forget_bias=True``, ``dim_ordering='th'`` ->
    ``data_format='channels_first'``. Passing both spellings raises TypeError.
    """
    out, done = modernize_kwargs(class_name, kwargs)
    for old, new in done:
        warnings.warn(
            f"{class_name}: `{old}` is a legacy Keras argument; use `{new}` instead.",
            DeprecationWarning,
            stacklevel=3,
        )
    return out
