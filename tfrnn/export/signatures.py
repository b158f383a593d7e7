"""The signature names an artifact serves, the same in a SavedModel and a .tflite.

``serving_default`` runs the model on whole sequences; ``streaming`` takes a
chunk of timesteps plus every recurrent layer's states and returns the outputs
plus the new states. TFLite's converter names the one function it converts
``serving_default``; a streaming .tflite is renamed after conversion.
"""

from __future__ import annotations

from tensorflow.lite.tools import flatbuffer_utils

SERVING = "serving_default"
STREAMING = "streaming"


def renamed_tflite_signature(content: bytes, key: str) -> bytes:
    """``content`` (a .tflite with one signature) with that signature named ``key``."""
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    (signature,) = model.signatureDefs
    if signature.signatureKey.decode() == key:
        return content
    signature.signatureKey = key.encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
