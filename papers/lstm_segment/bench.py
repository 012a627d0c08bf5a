"""Training throughput of the Tables 2 and 4 frame models (frames per second), for ``make bench``.

Two ways to feed the same model the same minibatches, on random frames of the paper's size
(545 scattering coefficients, 6 genres, 250 s tracks of 1,345 frames):

- ``"minimal"``: every minibatch already in memory as numpy arrays, plain ``model.fit`` (the floor:
  :func:`benchmarks.floors` compares the project with it). The ``BENCHMARKS`` rows are this one,
  like the other papers' rows (train steps on random inputs from memory).
- ``"project"``: what :func:`papers.lstm_segment.protocol.train_lstm_posteriors` and
  :func:`~papers.lstm_segment.protocol.train_dnn_posteriors` run: the standardised frames in a
  memory-mapped :class:`common.features.store.FrameSequenceFile`, minibatches gathered by
  :class:`~papers.lstm_segment.protocol.StreamBatches` (LSTM: Kaldi multi-stream layout, state
  carried between windows) or :class:`~papers.lstm_segment.protocol.ShuffledFrames` (DNN).

Both compile the model as the protocol does (SGD with momentum and clipping, summed frame
cross-entropy) and time ``n_batches`` minibatches after one untimed epoch of them (tracing).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from common.features.store import FrameSequenceFile
from papers.lstm_segment import config as cfg
from papers.lstm_segment.models import build_dnn, build_lstm, streaming_layers
from papers.lstm_segment.protocol import (ShuffledFrames, StreamBatches, frame_optimizer, start_epoch, summed_frame_loss,
                                          stream_layout)

#: Frame dimension (kymatio J=12, Q=(8, 1): 545 coefficients) and genres of ISMIR 2004.
N_FEATURES, N_CLASSES = 545, 6
#: Frames of a 250 s track at hop 4096 samples, 22,050 Hz.
TRACK_FRAMES = 1345


def _tracks(n_frames: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n_tracks = -(-n_frames // TRACK_FRAMES)
    return [rng.standard_normal((TRACK_FRAMES, N_FEATURES), dtype=np.float32) for _ in range(n_tracks)]


def lstm_training_throughput(config: cfg.LSTMConfig, n_batches: int = 10, path: str = "minimal",
                             seed: int = 0) -> float:
    """Training frames per second of one LSTM of Tables 2 and 4 (padding frames included).

    Args:
        config: the LSTM (layers, ``num_streams`` S, ``bptt_length`` L, schedule).
        n_batches: timed minibatches of ``S x L`` frames.
        path: ``"minimal"`` or ``"project"`` (module text).
        seed: seed of the weights and the frames.

    Returns:
        ``n_batches * S * L / seconds``.

    Raises:
        ValueError: unknown ``path`` or ``n_batches`` < 1.
    """
    if path not in ("minimal", "project") or n_batches < 1:
        raise ValueError(f"path must be 'minimal' or 'project' and n_batches >= 1, got {path!r}, {n_batches}")
    streams, window = config.num_streams, config.bptt_length
    tracks = _tracks(streams * window * n_batches + streams * TRACK_FRAMES, seed)
    labels = np.arange(len(tracks)) % N_CLASSES
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model, _ = build_lstm(config, N_FEATURES, N_CLASSES)
    optimizer = frame_optimizer(config.schedule)
    model.compile(optimizer=optimizer, loss=summed_frame_loss())
    with tempfile.TemporaryDirectory() as folder:
        with FrameSequenceFile.write(tracks, Path(folder) / "frames.f32") as frame_file:
            index, reset = stream_layout([int(n) for n in frame_file.lengths], streams, window)
            index, reset = index[:n_batches], reset[:n_batches]
            data = StreamBatches(frame_file.frames, np.repeat(labels, frame_file.lengths), index, reset)
            if path == "minimal":  # the same minibatches, materialised in memory first
                batches = [data[i] for i in range(len(data))]
                x = {"frames": np.concatenate([b[0]["frames"] for b in batches]),
                     "reset": np.concatenate([b[0]["reset"] for b in batches])}
                y = np.concatenate([b[1] for b in batches])
                w = np.concatenate([b[2] for b in batches])

                def epoch():
                    model.fit(x, y, sample_weight=w, batch_size=streams, epochs=1, shuffle=False, verbose=0)
            else:
                def epoch():
                    model.fit(data, epochs=1, shuffle=False, verbose=0)
            layers = streaming_layers(model)
            seconds = []
            for _ in range(2):  # the first pays tracing
                start_epoch(optimizer, config.schedule.learning_rate)
                for layer in layers:
                    layer.reset_streams()
                start = time.perf_counter()
                epoch()
                seconds.append(time.perf_counter() - start)
    return n_batches * streams * window / seconds[-1]


def dnn_training_throughput(config: cfg.DNNConfig, n_batches: int = 100, path: str = "minimal",
                            seed: int = 0) -> float:
    """Training frames per second of one baseline DNN of Table 2.

    Args:
        config: the DNN (hidden units, ``batch_size`` frames per minibatch, schedule).
        n_batches: timed minibatches.
        path: ``"minimal"`` (``model.fit(x, y, shuffle=True)`` on in-memory arrays) or
            ``"project"`` (:class:`~papers.lstm_segment.protocol.ShuffledFrames` over a frame file).
        seed: seed of the weights and the frames.

    Returns:
        ``n_batches * batch_size / seconds``.

    Raises:
        ValueError: unknown ``path`` or ``n_batches`` < 1.
    """
    if path not in ("minimal", "project") or n_batches < 1:
        raise ValueError(f"path must be 'minimal' or 'project' and n_batches >= 1, got {path!r}, {n_batches}")
    n_frames = n_batches * config.batch_size
    tracks = _tracks(n_frames, seed)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_dnn(config, N_FEATURES, N_CLASSES)
    optimizer = frame_optimizer(config.schedule)
    model.compile(optimizer=optimizer, loss=summed_frame_loss())
    with tempfile.TemporaryDirectory() as folder:
        with FrameSequenceFile.write(tracks, Path(folder) / "frames.f32") as frame_file:
            frames = frame_file.frames[:n_frames]
            labels = np.arange(n_frames) % N_CLASSES
            if path == "minimal":
                x = np.array(frames)

                def epoch():
                    model.fit(x, labels, batch_size=config.batch_size, epochs=1, shuffle=True, verbose=0)
            else:
                data = ShuffledFrames(frames, labels, config.batch_size, seed)

                def epoch():
                    model.fit(data, epochs=1, shuffle=False, verbose=0)
                    data.reshuffle()
            seconds = []
            for _ in range(2):
                start_epoch(optimizer, config.schedule.learning_rate)
                start = time.perf_counter()
                epoch()
                seconds.append(time.perf_counter() - start)
    return n_frames / seconds[-1]


#: ``make bench`` rows: ``(name, unit, callable -> frames/s)``; the names start with the scheme
#: names, which :func:`benchmarks.scale.scheme_benchmark` looks up.
BENCHMARKS = [
    *[(f"{m.name} training, {m.num_streams} streams x {m.bptt_length} frames", "frames/s",
       lambda m=m: lstm_training_throughput(m, n_batches=30)) for m in cfg.LSTMS],
    *[(f"{d.name} training, batch {d.batch_size} frames", "frames/s",
       lambda d=d: dnn_training_throughput(d, n_batches=300)) for d in cfg.DNNS],
]
