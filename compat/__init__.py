"""tfrnn.compat: readers for weights and configs saved by Keras 0.x, 1.x and 2.x."""
