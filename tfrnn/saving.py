"""Deserializing the layers nested in a tfrnn layer's config (cells, wrapped layers)."""

from __future__ import annotations

from typing import Any

import tf_keras


def deserialize_layer(config: Any, custom_objects: dict | None = None) -> Any:
    """``tf_keras.layers.deserialize`` that keeps registered classes.

    A nested config written in tf_keras's current format names a registered
    class as ``class_name: "LSTM", registered_name: "tfrnn>LSTM"``. When
    ``.h5`` (or legacy SavedModel) loading is under way, tf_keras reads it
    with its legacy deserializer, which looks at ``class_name`` only and so
    would build tf_keras's own ``LSTM`` (or fail on a custom cell). Looking
    the class up by its registered name avoids that.
    """
    if isinstance(config, dict):
        registered = config.get("registered_name")
        if (
            registered
            and registered != config.get("class_name")
            and tf_keras.saving.get_registered_object(registered, custom_objects) is not None
        ):
            config = {**config, "class_name": registered}
    return tf_keras.layers.deserialize(config, custom_objects=custom_objects)
