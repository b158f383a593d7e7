"""tfrnn.export: SavedModel and TFLite artifacts of models holding tfrnn layers."""

from tfrnn.export.atomic import OutputExistsError
from tfrnn.export.saved_model import export_saved_model
from tfrnn.export.tflite import TFLiteReport, export_tflite, run_tflite, tflite_ops

__all__ = [
    "OutputExistsError",
    "TFLiteReport",
    "export_saved_model",
    "export_tflite",
    "run_tflite",
    "tflite_ops",
]
