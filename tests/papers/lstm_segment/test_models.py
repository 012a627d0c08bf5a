"""Projected peephole LSTM cell (eqs. 3-9), streaming truncated BPTT, and the DNN / LSTM builders."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from papers.lstm_segment.config import DNNS, LSTMS, DNNConfig, LSTMConfig
from papers.lstm_segment.models import ProjectedLSTMCell, build_dnn, build_lstm, streaming_layers


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_cell_shapes_and_parameters():
    cell = ProjectedLSTMCell(units=5, projection_units=3)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    x = np.random.default_rng(0).standard_normal((2, 7, 4)).astype("float32")
    outputs, r, c = rnn(x)
    assert tuple(outputs.shape) == (2, 7, 3) and tuple(r.shape) == (2, 3) and tuple(c.shape) == (2, 5)
    np.testing.assert_allclose(np.asarray(outputs)[:, -1], np.asarray(r), atol=1e-7)
    # W_x (4 x 4U), W_r (3 x 4U), bias 4U, three diagonal peepholes U, projection U x P
    assert cell.count_params() == 4 * 20 + 3 * 20 + 20 + 3 * 5 + 5 * 3
    weights = [w for w in cell.weights if w.name == "kernel"][0]
    assert np.abs(np.asarray(weights)).max() <= 0.01  # Kaldi ParamScale 0.01, uniform


def test_cell_one_step_by_hand():
    """One step with 1 input, 1 cell, 1 projection unit, computed by hand from eqs. (3)-(9)."""
    cell = ProjectedLSTMCell(units=1, projection_units=1)
    cell.build((None, 1))
    cell.kernel.assign([[0.1, 0.2, 0.3, 0.4]])            # g, i, f, o from x
    cell.recurrent_kernel.assign([[0.5, -0.5, 0.25, -0.25]])  # g, i, f, o from r_{t-1}
    cell.bias.assign([0.0, 0.1, -0.1, 0.2])
    cell.peephole_i.assign([0.3])
    cell.peephole_f.assign([-0.2])
    cell.peephole_o.assign([0.1])
    cell.projection.assign([[2.0]])
    x, r_prev, c_prev = 1.0, 0.5, 0.2
    g = math.tanh(0.1 * x + 0.5 * r_prev + 0.0)                   # tanh(0.35)
    i = _sigmoid(0.2 * x - 0.5 * r_prev + 0.3 * c_prev + 0.1)     # sigmoid(0.11)
    f = _sigmoid(0.3 * x + 0.25 * r_prev - 0.2 * c_prev - 0.1)    # sigmoid(0.285)
    c = f * c_prev + i * g
    o = _sigmoid(0.4 * x - 0.25 * r_prev + 0.1 * c + 0.2)         # peephole from the new cell
    r = 2.0 * o * math.tanh(c)
    # by hand: i = sigmoid(0.11) = 0.52747, f = sigmoid(0.285) = 0.57077, g = tanh(0.35) = 0.33638,
    # c = 0.57077 * 0.2 + 0.52747 * 0.33638 = 0.29158, o = sigmoid(0.50416) = 0.62344, r = 2 * 0.62344 * tanh(0.29158) = 0.35360
    assert c == pytest.approx(0.29158, abs=1e-5) and r == pytest.approx(0.35360, abs=1e-5)
    out, (r_new, c_new) = cell(np.array([[x]], "float32"), [np.array([[r_prev]], "float32"),
                                                             np.array([[c_prev]], "float32")])
    assert float(np.asarray(out)[0, 0]) == pytest.approx(r, rel=1e-5)
    assert float(np.asarray(r_new)[0, 0]) == pytest.approx(r, rel=1e-5)
    assert float(np.asarray(c_new)[0, 0]) == pytest.approx(c, rel=1e-5)


def test_cell_clipping():
    cell = ProjectedLSTMCell(units=1, projection_units=1, cell_clip=50.0)
    cell.build((None, 1))
    for weight in cell.weights:
        weight.assign(np.zeros(weight.shape))
    cell.bias.assign([10.0, 10.0, 10.0, 0.0])  # g = i = f ~ 1: c grows by ~1 per step
    _, (_, c) = cell(np.zeros((1, 1), "float32"), [np.zeros((1, 1), "float32"), np.full((1, 1), 49.8, "float32")])
    assert float(np.asarray(c)[0, 0]) == pytest.approx(50.0)
    unclipped = ProjectedLSTMCell(units=1, projection_units=1, cell_clip=None)
    unclipped.build((None, 1))
    for weight, source in zip(unclipped.weights, cell.weights):
        weight.assign(source)
    _, (_, c) = unclipped(np.zeros((1, 1), "float32"), [np.zeros((1, 1), "float32"), np.full((1, 1), 49.8, "float32")])
    assert float(np.asarray(c)[0, 0]) > 50.5


def test_streaming_windows_equal_whole_track_and_reset():
    config = LSTMConfig("t", layers=((3, 5), (2, 4)), num_streams=2, bptt_length=4)
    training, inference = build_lstm(config, 6, 3)
    rng = np.random.default_rng(1)
    inference.set_weights([rng.uniform(-0.8, 0.8, w.shape) for w in inference.get_weights()])  # shared
    x = rng.standard_normal((2, 8, 6)).astype("float32")
    whole = np.asarray(inference.predict_on_batch(x))
    for layer in streaming_layers(training):
        layer.reset_streams()
    first = training.predict_on_batch({"frames": x[:, :4], "reset": np.ones(2, "float32")})
    second = training.predict_on_batch({"frames": x[:, 4:], "reset": np.zeros(2, "float32")})
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-6)
    # stream 0 starts a new track at the third window: it must forget the first two windows
    third = training.predict_on_batch({"frames": x[:, 4:], "reset": np.array([1.0, 0.0], "float32")})
    fresh = np.asarray(inference.predict_on_batch(x[:, 4:]))
    np.testing.assert_allclose(third[0], fresh[0], atol=1e-6)
    assert np.abs(third[1] - fresh[1]).max() > 1e-3
    assert training.count_params() - inference.count_params() == 2 * (3 + 5) + 2 * (2 + 4)  # stream states


def test_paper_lstm_sizes():
    # 545 inputs here (525 in the paper); 512 projection units, 800 cells, 6 genres
    _, inference = build_lstm(LSTMS[0], 545, 6)
    expected = 545 * 3200 + 512 * 3200 + 3200 + 3 * 800 + 800 * 512 + 512 * 6 + 6
    assert inference.count_params() == expected
    training, inference = build_lstm(LSTMS[3], 545, 6)
    assert inference.output_shape == (None, None, 6)
    frames_input = [t for t in training.inputs if "frames" in t.name][0]
    assert tuple(frames_input.shape) == (60, 20, 545)  # 60 streams x 20 frames (config)
    assert len(streaming_layers(training)) == 2


def test_dnn_shapes_and_kaldi_initialisation():
    keras.utils.set_random_seed(0)
    model = build_dnn(DNNS[1], 545, 6)
    assert model.output_shape == (None, 6)
    assert model.count_params() == 545 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 6 + 6
    first, hidden, out = (model.get_layer(n) for n in ("hidden1", "hidden2", "softmax"))
    std_first = 0.1 * 35 * math.sqrt(2 / (545 + 1024)) * math.sqrt(1 / 12)
    assert np.asarray(first.kernel).std() == pytest.approx(std_first, rel=0.05)
    assert np.asarray(hidden.kernel).std() == pytest.approx(0.1 * 35 * math.sqrt(2 / 2048), rel=0.05)
    bias = np.asarray(first.bias)
    assert bias.min() >= -4.0 and bias.max() <= 0.0 and bias.mean() == pytest.approx(-2.0, abs=0.2)
    assert np.all(np.asarray(out.bias) == 0)
    assert first.activation.__name__ == "sigmoid" and out.activation.__name__ == "softmax"
    probs = model.predict_on_batch(np.zeros((3, 545), "float32"))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert len(build_dnn(DNNConfig("x", hidden_units=(8,)), 5, 6).layers) == 3
