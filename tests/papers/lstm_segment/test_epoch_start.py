"""Kaldi epoch start of the LSTM training (papers.lstm_segment.protocol.start_epoch, StreamingRNN.reset_streams):
momentum buffers and carried stream states are zeroed, the new learning rate is set.

Both used ``ops.zeros_like(variable)``, which the JAX backend cannot evaluate on a Keras variable
(tests/test_jax_backend.py); these check the ``ops.zeros(shape, dtype)`` form on the current backend.
"""

import numpy as np
import pytest

from papers.lstm_segment.config import LSTMConfig, NewbobSchedule
from papers.lstm_segment.models import build_lstm, streaming_layers
from papers.lstm_segment.protocol import frame_optimizer, start_epoch, summed_frame_loss


def test_epoch_start_zeroes_momentum_and_stream_states():
    config = LSTMConfig("t", layers=((3, 5),), num_streams=2, bptt_length=4,
                        schedule=NewbobSchedule(learning_rate=0.1, momentum=0.8))
    model, _ = build_lstm(config, 6, 3)
    optimizer = frame_optimizer(config.schedule)
    model.compile(optimizer=optimizer, loss=summed_frame_loss())
    x = np.random.default_rng(0).standard_normal((2, 4, 6)).astype("float32")
    model.train_on_batch({"frames": x, "reset": np.ones(2, "float32")}, np.array([[0] * 4, [1] * 4]))
    states = [v for layer in streaming_layers(model) for v in layer.stream_states]
    assert max(np.abs(np.asarray(v)).max() for v in optimizer.momentums) > 0
    assert max(np.abs(np.asarray(v)).max() for v in states) > 0
    for layer in streaming_layers(model):
        layer.reset_streams()
    start_epoch(optimizer, 0.05)
    assert all(not np.asarray(v).any() for v in optimizer.momentums)
    assert all(not np.asarray(v).any() and v.dtype == "float32" for v in states)
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.05)
