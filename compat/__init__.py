"""tfrnn.compat: readers for weights and configs saved by Keras 0.x, 1.x and 2.x.

``detect_generation`` and ``convert_layer_weights`` need only numpy and h5py;
``load_legacy_weights`` and ``load_legacy_model`` build tf_keras models.
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
