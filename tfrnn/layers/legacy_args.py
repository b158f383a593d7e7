"""Old Keras (0.x/1.x/2.0) constructor spellings, translated to tf_keras's."""

from __future__ import annotations

from typing import Any


def translate_legacy_kwargs(class_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return ``kwargs`` with legacy argument names mapped to modern ones.

    Filled in by the compat work (issue 5); today every name passes through.
    """
    return dict(kwargs)
