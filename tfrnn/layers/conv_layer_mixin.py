"""What ConvLSTM1D/2D/3D are in either Keras: an RNN over a ConvLSTM cell,
with the cell's shape rules for its inputs, outputs and initial states.
Keras-free: mixed in before each Keras's cell layer class."""

from __future__ import annotations

import tensorflow as tf


class ConvLSTMLayerMixin:
    """Shapes of a ConvLSTM layer; the cell is built from ``filters,
    kernel_size`` and keywords (``CellLayerMixin``)."""

    cell_name = "conv_lstm_cell"
    positional_args = ("filters", "kernel_size")

    # ----------------------------------------------------------------- shapes
    def _sequence_shape(self, input_shape) -> list:
        """``input_shape`` as a batch-major list (first input of a list)."""
        if isinstance(input_shape, list) and input_shape:
            if isinstance(input_shape[0], (list, tuple, tf.TensorShape)):
                input_shape = input_shape[0]
        shape = tf.TensorShape(input_shape).as_list()
        if self.time_major and len(shape) >= 2:
            shape[0], shape[1] = shape[1], shape[0]
        return shape

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        geometry = self.cell.geometry
        geometry.check_input_shape(self.name, shape, with_time=True)
        if self.stateful and None in geometry.split(shape[1:])[0]:
            raise ValueError(
                f"Layer '{self.name}' is stateful, so its spatial input dimensions must "
                f"be known; got input shape {tuple(shape)}."
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        geometry = self.cell.geometry
        spatial, _ = geometry.split(shape[1:])
        step = [shape[0], *geometry.arrange(geometry.output_spatial(spatial), self.cell.filters)]
        if self.return_sequences:
            lead = [shape[1], shape[0]] if self.time_major else [shape[0], shape[1]]
            output = tf.TensorShape(lead + step[1:])
        else:
            output = tf.TensorShape(step)
        if self.return_state:
            return [output, tf.TensorShape(step), tf.TensorShape(step)]
        return output

    def get_initial_state(self, inputs):
        """Zero states shaped from ``inputs`` (spatial sizes may be dynamic)."""
        first = tf.nest.flatten(inputs)[0]
        step_sample = first[0] if self.time_major else first[:, 0]
        return self.cell.zero_states(step_sample)
