"""CellLayer: the shape of tf_keras's SimpleRNN, GRU and LSTM (an RNN that
builds its own cell from flat arguments and exposes them as attributes)."""

from __future__ import annotations

import tf_keras
from tf_keras import regularizers

from tfrnn.layers.cell_layer_mixin import CellLayerMixin
from tfrnn.layers.rnn import RNN


class CellLayer(CellLayerMixin, RNN):
    """An RNN over a cell of ``cell_class`` built from the layer's arguments
    (``CellLayerMixin``), as a tf_keras layer."""

    def sequence_input_spec(self):
        return tf_keras.layers.InputSpec(ndim=3)

    def serialized_activity_regularizer(self):
        return regularizers.serialize(self.activity_regularizer)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        return super().call(inputs, mask=mask, training=training, initial_state=initial_state)
