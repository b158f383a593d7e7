"""tfrnn.compat: readers for weights and configs saved by Keras 0.x, 1.x and 2.x.

``detect_generation`` and ``convert_layer_weights`` need only numpy and h5py;
``load_legacy_model`` builds tf_keras models of tfrnn layers, or with
``keras=3`` Keras 3 models of tfrnn.keras3 layers; ``load_legacy_weights``
loads into either.
"""

from tfrnn.compat.convert import convert_layer_weights
from tfrnn.compat.hdf5 import Generation, detect_generation
from tfrnn.compat.loading import load_legacy_model, load_legacy_weights

__all__ = [
    "Generation",
    "convert_layer_weights",
    "detect_generation",
    "load_legacy_model",
    "load_legacy_weights",
]
