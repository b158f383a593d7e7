"""Pure-TensorFlow sequence machinery (no Keras import)."""
