"""A toy table for runner tests: a tiny generated GTZAN tree and schemes that train nothing.

Also runnable as a command, so that tests can run, kill and race real processes::

    python -m tests.runner_fixtures DATA RESULTS WORK [--folds N] [--epochs N] [--hold-fold K] [--shard I/N]

``--hold-fold K`` makes the scheme wait inside fold K until the file ``<WORK>/release`` exists
(or 60 s pass), after writing ``<WORK>/holding-<K>``; tests use it to act while a run is busy.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from common.datasets import gtzan
from common.features.logmel import LogMelConfig, LogMelExtractor, chunk_spectrogram
from common.runner import DatasetSpec, FoldOutcome, Scheme, TableSpec, reference_table
from common.evaluation.splits import CrossValidation
from tests.audio_fixtures import write_audio

FEATURES = LogMelConfig(sample_rate=8000, n_fft=256, hop_length=128, window="hann", n_mels=8)


def tiny_gtzan(root, per_genre=4, seconds=0.5):
    """A GTZAN tree of ``10 x per_genre`` sine clips at 8 kHz under ``root/genres``."""
    for g, genre in enumerate(gtzan.GENRES):
        for i in range(per_genre):
            write_audio(root / "genres" / genre / f"{genre}.{i:05d}.wav", seconds=seconds, sample_rate=8000,
                        frequency=100.0 * (g + 1), seed=i)
    return root


class MajorityScheme:
    """Predicts the most frequent training label; counts its calls; can fail or wait on demand.

    Args:
        fail_on_fold: raise KeyboardInterrupt in this fold.
        hold_fold: wait in this fold until ``<work>/release`` exists (see the module docstring).
        work: the run's work folder (for ``hold_fold``).
    """

    def __init__(self, fail_on_fold=None, hold_fold=None, work=None):
        self.calls = []
        self.fail_on_fold = fail_on_fold
        self.hold_fold, self.work = hold_fold, work

    def __call__(self, context):
        if context.split.fold == self.fail_on_fold:
            raise KeyboardInterrupt
        if context.split.fold == self.hold_fold:
            (Path(self.work) / f"holding-{self.hold_fold}").write_text(str(os.getpid()))
            deadline = time.time() + 60
            while not (Path(self.work) / "release").exists() and time.time() < deadline:
                time.sleep(0.05)
        self.calls.append(context.split.fold)
        train = context.labels(context.split.train)
        test = context.labels(context.split.test)
        guess = np.bincount(train).argmax()
        assert all(context.features[i].shape[1:] == (8, 10) for i in context.split.test)
        return FoldOutcome({"accuracy": 100.0 * float(np.mean(test == guess))},
                           {"guess": int(guess), "test_ids": list(context.split.test),
                            "test_labels": test.tolist(), "test_predictions": [int(guess)] * len(test)})


def nan_above_in_inference(limit: float):
    """A Keras layer: the identity, except that in inference an example with a value above ``limit`` is all NaN.

    A model that trains on small inputs with finite losses and outputs NaN only on large ones
    (e.g. real features beyond the range of a random check).
    """
    import keras

    class NanAboveInInference(keras.layers.Layer):
        def call(self, x, training=None):
            if training:
                return x
            large = keras.ops.any(keras.ops.abs(x) > limit, axis=-1, keepdims=True)
            return keras.ops.where(large, keras.ops.full_like(x, float("nan")), x)

    return NanAboveInInference()


class KerasScheme:
    """A small network (16 ReLU units, softmax) on each track's mean chunk, trained with
    :func:`common.training.trainer.train`.

    Args:
        learning_rate: SGD learning rate (``1e30`` diverges in the first epoch).
        test_scale: the test inputs are the training inputs' scale times this; with
            ``nan_above``, a model that is finite in training and NaN on the (large) test inputs.
        nan_above: put :func:`nan_above_in_inference` with this limit first (the hidden units
            are then tanh, which keeps a NaN).
    """

    def __init__(self, learning_rate=0.1, test_scale=1.0, nan_above=None):
        self.learning_rate, self.test_scale, self.nan_above = learning_rate, test_scale, nan_above
        self.calls = []

    def __call__(self, context):
        import keras

        from common.training.trainer import TrainingConfig, train

        self.calls.append(context.split.fold)

        def inputs(ids, scale=1.0):  # log-mel dB / 100: within about [-1, 1]
            return scale * np.stack([context.features[i].mean(axis=0).ravel() for i in ids]).astype("float32") / 100

        split, n_classes = context.split, len(context.index.classes)
        keras.utils.set_random_seed(context.seed)
        layers = [keras.Input((80,))] + ([nan_above_in_inference(self.nan_above)] if self.nan_above else [])
        hidden = "tanh" if self.nan_above else "relu"  # TensorFlow's relu turns NaN into 0; tanh keeps it
        model = keras.Sequential([*layers, keras.layers.Dense(16, activation=hidden),
                                  keras.layers.Dense(n_classes, activation="softmax")])
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((inputs(split.train), context.labels(split.train))).batch(8)
        train(model, data, None, TrainingConfig(learning_rate=self.learning_rate, epochs=2, patience=0),
              loss="sparse_categorical_crossentropy", n_train_examples=len(split.train),
              checkpoint_path=context.work_dir / "best.weights.h5", epochs=context.epochs, verbose=0)
        predictions = model.predict(inputs(split.test, self.test_scale), verbose=0).argmax(axis=1)
        test = context.labels(split.test)
        return FoldOutcome({"accuracy": 100.0 * float(np.mean(predictions == test))},
                           {"test_ids": list(split.test), "test_labels": test.tolist(),
                            "test_predictions": predictions.tolist()})


def toy_spec(scheme, n_folds=3, extra_schemes=(), protocol=None):
    """A table with a paper-only row ``[ref]``, the trainable ``majority`` row and ``extra_schemes``."""
    return TableSpec(
        paper="toy", table_id="table_toy", title="toy table",
        dataset=DatasetSpec("gtzan", gtzan.index, "GTZAN_DIR", "data/gtzan"),
        extractor=lambda: LogMelExtractor(FEATURES),
        prepare=lambda spec, track: chunk_spectrogram(spec, 10, source=str(track.path)),
        protocol=protocol or CrossValidation(n_folds=n_folds, validation_fraction=0.25, seed=0),
        metrics=("accuracy",),
        schemes=(Scheme("[ref]", None, "quoted"), Scheme("majority", scheme, "majority class"), *extra_schemes),
        reference=reference_table({"[ref]": {"accuracy": (50.0, None)}, "majority": {"accuracy": (10.0, 1.0)}}))


def main(argv=None) -> int:
    """Run the toy table like ``common.cli run`` does (same error handling); returns the exit status."""
    import argparse

    from common.cli import guarded
    from common.runner import run_table

    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("results")
    parser.add_argument("work")
    parser.add_argument("--folds", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--hold-fold", type=int)
    parser.add_argument("--shard", default=None)
    args = parser.parse_args(argv)
    scheme = MajorityScheme(hold_fold=args.hold_fold, work=args.work)
    from common.runner.fanout import parse_shard

    def run() -> int:
        run_table(toy_spec(scheme), args.data, results_dir=args.results, work_dir=args.work, folds=args.folds,
                  epochs=args.epochs, progress=False, shard=parse_shard(args.shard) if args.shard else None)
        return 0

    return guarded(run)


if __name__ == "__main__":
    sys.exit(main())
