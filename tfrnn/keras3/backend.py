"""The Keras 3 that ``tfrnn.keras3`` needs: installed, version 3, with the
TensorFlow backend."""

from __future__ import annotations


def require_keras3() -> None:
    """ImportError (what is wrong, what to do) unless ``keras`` is Keras 3
    running on TensorFlow."""
    try:
        import keras
    except ImportError as err:
        raise ImportError(
            "tfrnn.keras3 needs Keras 3 (`pip install 'keras>=3'`); for tf_keras "
            "models use the layers of `tfrnn` itself."
        ) from err
    major = str(getattr(keras, "__version__", "0")).split(".")[0]
    if not major.isdigit() or int(major) < 3:
        raise ImportError(
            f"tfrnn.keras3 needs Keras 3, but `keras` is version {keras.__version__}; "
            "install Keras 3 (`pip install 'keras>=3'`), or use the layers of `tfrnn` "
            "with tf_keras."
        )
    if keras.backend.backend() != "tensorflow":
        raise ImportError(
            f"tfrnn.keras3 runs on TensorFlow, but Keras 3's backend is "
            f"'{keras.backend.backend()}'; set KERAS_BACKEND=tensorflow before importing keras."
        )
