"""tfrnn.export: SavedModel and TFLite artifacts of models holding tfrnn layers."""
