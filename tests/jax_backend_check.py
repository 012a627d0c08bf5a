"""Every trainable scheme of every paper, built and trained one step under the JAX backend of Keras.

Run as a command in a process whose ``KERAS_BACKEND`` is ``jax`` (Keras fixes its backend when it
is first imported, so this cannot run inside a TensorFlow-backend pytest process)::

    KERAS_BACKEND=jax python -m tests.jax_backend_check WORK_DIR [--no-runner] [--papers PAPER ...]

For each scheme it builds the model with the paper's builder (small configurations where the
paper's full size would be slow on a CPU: the sizes the papers' own tests use), compiles it with
the scheme's own loss and optimiser, and runs ``train_on_batch`` once on random inputs of the
model's real input shapes. It checks that the loss is finite and that the step changed the
trainable weights, and prints one line per scheme::

    JAX-SCHEME <paper> | <scheme> | params=<count> | loss=<value> | <seconds of compile + step>

Then (unless ``--no-runner``) it runs one fold of MCCLSTM's Table 3 (schemes R2 and MCCLSTM, one
epoch) through :func:`common.runner.run_table` on a generated GTZAN tree (10 genres x 10 clips of
4 s at 22,050 Hz) under ``WORK_DIR``: tf.data pipelines feeding a JAX model through
:func:`common.training.trainer.train`, and prints ``JAX-RUNNER <scheme> | accuracy=<value>`` per scheme.
The last line is ``JAX-CHECK OK <n> schemes``; any failure raises (non-zero exit status).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

RNG = np.random.default_rng(0)

#: CRNN-TF Fig. 5 rows trained here (scanner subsets of :data:`papers.crnn_tf.config.FIG5_SUBSETS`).
FIG5_ROWS = ("Dc", "Brc", "ABCDc")

#: The papers whose schemes are checked (``--papers``).
PAPERS = ("mcclstm", "msecnn", "crnn_tf", "lstm_segment")


def _random(shape, low=-1.0, high=1.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def _one_hot(n: int, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[np.arange(n) % classes]


def _multi_hot(n: int, tags: int) -> np.ndarray:
    return (RNG.uniform(size=(n, tags)) < 0.3).astype(np.float32)


def _spectrogram_batch(model: keras.Model, n: int) -> np.ndarray:
    """Random log-mel values (dB-like) of the model's single input shape."""
    return RNG.normal(-30.0, 15.0, (n, *model.input_shape[1:])).astype(np.float32)


def mcclstm_schemes():
    """MCCLSTM (Chen & Wang 2017): CNNs-3, R0-R4, MCCLSTM at the paper's size (40 x 80 chunks)."""
    from papers.mcclstm import config as cfg
    from papers.mcclstm.models import build_model

    n_classes, model_config = 10, cfg.MCCLSTMConfig()
    for scheme in cfg.SCHEMES:
        model = build_model(scheme, n_classes, model_config)
        training = cfg.SEQUENCE_TRAINING if scheme.lstm else cfg.CHUNK_TRAINING
        labels = np.arange(4) % n_classes
        if scheme.lstm:  # two tracks of 3 real chunks and one of 2, padded to 3
            inputs = {"chunks": _random((3, 3, model_config.n_bands, model_config.n_frames)),
                      "n_chunks": np.array([3, 2, 3], dtype=np.int32)}
            labels = labels[:3]
        else:
            inputs = _random((4, model_config.n_bands, model_config.n_frames))
        yield ("mcclstm", scheme.name, model, training.make_optimizer(), "sparse_categorical_crossentropy",
               inputs, labels)


def msecnn_schemes():
    """MsE-CNN paper Table 1 rows MsE-CNN and FCN-5, 96 x 1366 input, small filter counts (its tests' TINY_MODEL)."""
    from common.models.fcn import FCNConfig
    from papers.msecnn import config as cfg
    from papers.msecnn.models import build_model

    tiny = FCNConfig(filters=(4, 4, 8, 8, 8))  # tests/papers/msecnn/test_e2e.py TINY_MODEL
    for name in cfg.MODEL_NAMES:
        model = build_model(name, cfg.N_TAGS, tiny)
        yield ("msecnn", name, model, cfg.TRAINING.make_optimizer(), "binary_crossentropy",
               _spectrogram_batch(model, 2), _multi_hot(2, cfg.N_TAGS))


def crnn_tf_schemes(work: Path):
    """CRNN-TF paper, tiny_settings sizes: the Table I / II networks, then Table III's four rows.

    Tables I and II train the same six builders and differ only in the output (``task="tags"``:
    50 sigmoid units, binary cross-entropy; ``"genres"``: softmax, categorical cross-entropy), so
    each network is trained once: CRNN-TF as Table I's tagger (its weights, saved and loaded as
    :func:`papers.crnn_tf.protocol.load_source_model` does, start Table III's transfer rows), the
    five others as Table II's genre classifiers (16 genres). Fig. 5: :data:`FIG5_ROWS` (its 15 rows
    differ only in which scanners feed the Grid LSTM; these use every scan operation: flips in both
    axes, the column-wise transpose, 1, 2 and 4 blocks; all 8 is Table I's model). Table III:
    CRNN-TF on 10 genres from scratch and in the three transfer modes (layers copied, then frozen
    as the protocol does).
    """
    from papers.crnn_tf import config as cfg
    from papers.crnn_tf import models
    from papers.crnn_tf.protocol import LOSSES, TRANSFER_MODES, load_source_model
    from tests.papers.crnn_tf.tiny_settings import tiny_settings

    settings = tiny_settings()
    n_mels, frames = settings.features.n_mels, settings.clip_frames
    crnn_tf = replace(settings.crnn_tf, n_mels=n_mels, n_frames=frames, rnn="grid_lstm")
    source = models.build_crnn_tf(settings.source_outputs, "tags", crnn_tf)
    yield ("crnn_tf", "Table I CRNN-TF", source, settings.training.make_optimizer(), LOSSES["tags"],
           _spectrogram_batch(source, 2), _multi_hot(2, settings.source_outputs))
    networks = {
        "FCN": (models.build_fcn_baseline, replace(settings.fcn, n_mels=n_mels, n_frames=frames)),
        "Timbre CNN": (models.build_timbre_cnn, settings.timbre),
        "End-to-end": (models.build_end_to_end, settings.end_to_end),
        "CRNN": (models.build_crnn, replace(settings.crnn, n_mels=n_mels, n_frames=frames)),
        "CRNN-TF (GRU)": (models.build_crnn_tf, replace(crnn_tf, **cfg.GRU_ROW_CHANGES)),
    }
    for name, (build, model_config) in networks.items():
        model = build(16, "genres", model_config)
        inputs = _random((2, *model.input_shape[1:])) if name == "End-to-end" else _spectrogram_batch(model, 2)
        yield ("crnn_tf", f"Table II {name}", model, settings.training.make_optimizer(), LOSSES["genres"], inputs,
               _one_hot(2, 16))
    for name in FIG5_ROWS:  # the Fig. 5 ablation: CRNN-TF (tags) fed with a subset of the scanners
        model = models.build_crnn_tf(settings.source_outputs, "tags",
                                     replace(crnn_tf, directions=tuple(cfg.FIG5_SUBSETS[name])))
        yield ("crnn_tf", f"Fig. 5 {name}", model, settings.training.make_optimizer(), LOSSES["tags"],
               _spectrogram_batch(model, 2), _multi_hot(2, settings.source_outputs))
    weights = work / "crnn_tf_table1.weights.h5"
    source.save_weights(str(weights))
    for name, mode in (("CRNN-TF", "scratch"), ("Freeze CRNN-TF", "freeze_all"),
                       ("Freeze CNN + Fine-tune RNN", "freeze_cnn"), ("Fine-tune CRNN-TF", "fine_tune")):
        model = models.build_crnn_tf(10, "genres", crnn_tf)
        if TRANSFER_MODES[mode] is not None:
            copied = models.transfer_weights(load_source_model(weights, settings.source_outputs, crnn_tf), model)
            if not copied:
                raise AssertionError(f"{name}: no layer copied from the source model")
            models.freeze(model, TRANSFER_MODES[mode])
        yield ("crnn_tf", f"Table III {name}", model, settings.training.make_optimizer(), LOSSES["genres"],
               _spectrogram_batch(model, 2), _one_hot(2, 10))


def lstm_segment_schemes():
    """LSTM segment paper: the Table 2 DNN baselines at full size and the four LSTMs of Tables 2 / 4
    with their layer count, streams and window but 1/64 of the projection and cell units."""
    from papers.lstm_segment.config import DNNS, LSTMS
    from papers.lstm_segment.models import build_dnn, build_lstm, streaming_layers
    from papers.lstm_segment.protocol import frame_optimizer, start_epoch, summed_frame_loss

    n_features, n_classes = 545, 6
    for config in DNNS:
        model = build_dnn(config, n_features, n_classes)
        yield ("lstm_segment", config.name, model, frame_optimizer(config.schedule), summed_frame_loss(),
               _random((16, n_features)), np.arange(16) % n_classes)
    for config in LSTMS:
        small = replace(config, layers=tuple((p // 64, c // 64) for p, c in config.layers))
        model, _ = build_lstm(small, n_features, n_classes)
        streams = streaming_layers(model)
        for layer in streams:
            layer.reset_streams()
        s, window = small.num_streams, small.bptt_length
        inputs = {"frames": _random((s, window, n_features)), "reset": np.ones(s, np.float32)}
        optimizer = frame_optimizer(small.schedule)
        yield ("lstm_segment", f"{config.name} (units / 64)", model, optimizer, summed_frame_loss(),
               inputs, np.tile(np.arange(s)[:, None] % n_classes, (1, window)))
        # after the step: the window's final state is carried to the next window ...
        if not max(_largest(v) for layer in streams for v in layer.stream_states) > 0:
            raise AssertionError(f"{config.name}: StreamingRNN state not updated by the JAX train step")
        # ... and the protocol's epoch start (train_lstm_posteriors) zeroes states and momentum
        for layer in streams:
            layer.reset_streams()
        start_epoch(optimizer, small.schedule.learning_rate / 2)
        leftover = [_largest(v) for layer in streams for v in layer.stream_states]
        leftover += [_largest(v) for v in optimizer.momentums]
        if max(leftover) != 0:
            raise AssertionError(f"{config.name}: stream states / momentum not zeroed at an epoch start")


def _largest(variable) -> float:
    return float(np.abs(keras.ops.convert_to_numpy(variable)).max())


def train_one_step(paper, name, model, optimizer, loss, inputs, targets) -> float:
    """Compile ``model`` with ``loss`` and ``optimizer``, run one ``train_on_batch``, check it; return the loss."""
    start = time.perf_counter()
    model.compile(optimizer=optimizer, loss=loss)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    value = float(np.asarray(model.train_on_batch(inputs, targets)))
    if not math.isfinite(value):
        raise AssertionError(f"{paper} {name}: loss {value} is not finite under JAX")
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    if not any(np.any(a != b) for a, b in zip(after, before)):
        raise AssertionError(f"{paper} {name}: the JAX train step changed no trainable weight")
    print(f"JAX-SCHEME {paper} | {name} | params={model.count_params()} | loss={value:.6g} | "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return value


def tiny_gtzan(root: Path, per_genre: int = 10, seconds: float = 4.0) -> Path:
    """A GTZAN tree of ``10 x per_genre`` tone clips of ``seconds`` at 22,050 Hz under ``root/genres``."""
    from common.datasets import gtzan
    from tests.audio_fixtures import write_audio

    for g, genre in enumerate(gtzan.GENRES):
        for i in range(per_genre):
            write_audio(root / "genres" / genre / f"{genre}.{i:05d}.wav", seconds=seconds, sample_rate=22050,
                        frequency=110.0 * (g + 1) + 7.0 * i, seed=100 * g + i)
    return root


def run_mcclstm_fold(work: Path) -> None:
    """One fold, one epoch of MCCLSTM Table 3 (R2, MCCLSTM) through the real runner, under JAX."""
    from common.runner import run_table
    from papers.mcclstm.tables import table3_gtzan

    data = tiny_gtzan(work / "gtzan")
    frame = run_table(table3_gtzan(), data, results_dir=work / "results", work_dir=work / "work", folds=1,
                      epochs=1, schemes=["R2", "MCCLSTM"], verbose=0, progress=False)
    rows = frame.set_index("scheme")
    for scheme in ("R2", "MCCLSTM"):
        accuracy = float(rows.loc[scheme, "our_mean"])
        if not (int(rows.loc[scheme, "folds_run"]) == 1 and 0.0 <= accuracy <= 100.0):
            raise AssertionError(f"runner under JAX: {scheme} row {rows.loc[scheme].to_dict()}")
        print(f"JAX-RUNNER {scheme} | accuracy={accuracy:.2f}", flush=True)


def main(argv=None) -> int:
    """Command line (see the module docstring).

    Returns:
        0 when every check passed.

    Raises:
        AssertionError: the backend is not JAX, a loss is not finite, a step changed no weight, a
            stream state or momentum was not carried / zeroed, or a runner row is wrong; any error
            of a builder or of Keras under JAX propagates.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="scratch folder (weights, generated audio, run outputs)")
    parser.add_argument("--no-runner", action="store_true", help="skip the MCCLSTM fold through run_table")
    parser.add_argument("--papers", nargs="+", choices=PAPERS, default=PAPERS, help="papers whose schemes to train")
    args = parser.parse_args(argv)
    backend = keras.backend.backend()
    if backend != "jax":
        raise AssertionError(f"Keras backend is {backend!r}, not 'jax' (set KERAS_BACKEND=jax)")
    args.work.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    count = 0
    makers = {"mcclstm": mcclstm_schemes, "msecnn": msecnn_schemes, "crnn_tf": lambda: crnn_tf_schemes(args.work),
              "lstm_segment": lstm_segment_schemes}
    for paper in args.papers:
        for scheme in makers[paper]():
            train_one_step(*scheme)
            count += 1
    if not args.no_runner:
        run_mcclstm_fold(args.work)
    print(f"JAX-CHECK OK {count} schemes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
