"""Apply a trained MCCLSTM scheme to new audio: the fold's model and input scaling, as the protocol uses them.

The inference adapter (:func:`common.inference.fold_model.fold_model`) for every MCCLSTM table (Tables 3-5): it rebuilds
the scheme with the model settings its table row was trained with (the arguments of the row's
``run_fold`` partial), loads the fold's ``best.weights.h5``, and applies the fold's per-band
standardisation (fitted on that fold's training chunks by :func:`papers.mcclstm.protocol.run_scheme_fold`
and saved beside the checkpoint as :data:`~papers.mcclstm.protocol.STANDARDIZATION_FILE`). A file's
prediction is made by :func:`papers.mcclstm.protocol.predict_tracks`, the function that scores the
test tracks: chunk schemes (CNNs-3, R0, R2, R3) average the softmax of the file's chunks; sequence
schemes (R1, R4, MCCLSTM) read the file's whole chunk sequence.
"""

from __future__ import annotations

from pathlib import Path

import keras
import librosa
import numpy as np

from common.features.cache import FeatureCache
from common.errors import ConfigError, ReproError
from common.training.pipeline import BandStandardizer, TrackChunks
from common.inference.fold_model import FoldModel, FoldSource, load_checkpoint, not_supported
from common.evaluation.splits import load_splits
from papers.mcclstm.config import CHUNK_FRAMES
from papers.mcclstm.models import build_model
from papers.mcclstm.protocol import STANDARDIZATION_FILE, fit_standardizer, predict_tracks, run_scheme_fold


#: A file is flagged when the mean of its standardised log-mel in some mel band lies this many of the
#: fold's training standard deviations from the training mean. Measured on gtzan-mini under fold 0's
#: standardisation of a quick R0 run: its 100 clips stay below 1.9 in every band (median of the
#: per-clip maxima 1.1), while a 16-bit 44.1 kHz copy of jazz.00001 read without the band limit
#: reached 11.6-14.4 in the six bands above 11,025 Hz.
OUT_OF_RANGE_Z = 6.0


def out_of_range_bands(standardized: np.ndarray, band_hz: np.ndarray, threshold: float = OUT_OF_RANGE_Z) -> str | None:
    """Why one file's standardised chunks lie far outside the fold's training range, or None.

    Args:
        standardized: float32 ``(n_chunks, n_bands, n_frames)``: the file's chunks after the fold's
            per-band standardisation (training chunks have mean 0 and std 1 in every band).
        band_hz: ``(n_bands,)`` centre frequency of each mel band in Hz.
        threshold: flag bands whose mean over the file's frames is beyond this many std.

    Returns:
        a sentence for a console warning naming the number of bands flagged and the worst band, or None.
    """
    z = np.asarray(standardized, dtype=np.float64).mean(axis=(0, 2))
    bad = np.flatnonzero(np.abs(z) > threshold)
    if not bad.size:
        return None
    worst = int(bad[np.argmax(np.abs(z[bad]))])
    return (f"its log-mel lies far outside the fold's training range in {bad.size} of {z.size} mel bands (worst: "
            f"band {worst}, ~{band_hz[worst]:.0f} Hz, mean {z[worst]:+.1f} training std from the training mean); "
            f"the model never saw such input, so this prediction is unreliable")


def load_standardizer(unit_dir: str | Path) -> BandStandardizer | None:
    """The fold's per-band standardisation saved by the protocol, or None for a run made before it was saved.

    Returns:
        :class:`~common.training.pipeline.BandStandardizer` with float32 ``mean``, ``std`` ``(n_bands,)``.

    Raises:
        ConfigError: the file exists but cannot be read.
    """
    path = Path(unit_dir) / STANDARDIZATION_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            return BandStandardizer(mean=stored["mean"].astype(np.float32), std=stored["std"].astype(np.float32))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: unreadable standardisation statistics ({exc})") from None


def recompute_standardizer(source: FoldSource) -> tuple[BandStandardizer, str]:
    """Fit the fold's standardisation again, exactly as the protocol did, for a run that did not save it.

    Reads the fold's training track ids from the run's splits file, the tracks from the dataset
    folder in the manifest, their features through the feature cache (``<work>/cache``; computed
    and cached when absent), and fits :func:`papers.mcclstm.protocol.fit_standardizer` on their chunks in split order.

    Returns:
        ``(standardizer, note for the console)``.

    Raises:
        ConfigError: the splits file or the dataset is no longer there.
    """
    manifest = source.run.manifest
    spec = source.spec
    try:
        splits, _ = load_splits(Path(manifest["splits_file"]))
        split = next(s for s in splits if s.fold == source.fold)
        index = spec.dataset.index(Path(manifest["dataset"]["path"]))
        tracks = {t.track_id: t for t in index.tracks}
        cache = FeatureCache(Path(source.work_dir) / "cache", spec.extractor())
        chunks = [spec.prepare(cache.get(tracks[i].path), tracks[i]) for i in split.train]
    except (KeyError, StopIteration, OSError, ValueError, ReproError) as exc:
        raise ConfigError(
            f"{source.unit_dir / STANDARDIZATION_FILE} is missing (a run made before the statistics were saved) and "
            f"they cannot be recomputed from the fold's training tracks ({type(exc).__name__}: {exc}); train the "
            f"scheme again: make {spec.make_target} SCHEMES='{source.scheme.name}'") from None
    standardizer = fit_standardizer(TrackChunks.from_tracks(chunks, np.zeros(len(chunks))).chunks)
    return standardizer, (f"fold {source.fold}'s standardisation recomputed from its {len(chunks)} training tracks "
                          f"(the run did not save {STANDARDIZATION_FILE})")


def fold_model(source: FoldSource) -> FoldModel:
    """Rebuild an MCCLSTM scheme's trained fold for ``predict`` and ``--export``.

    Args:
        source: the fold (its scheme's ``run_fold`` is ``partial(run_scheme_fold, SchemeSpec,
            MCCLSTMConfig, TrainingConfig)``, see :func:`papers.mcclstm.tables.make_schemes`).

    Returns:
        :class:`~common.inference.fold_model.FoldModel` whose ``probabilities(chunks)`` maps one file's chunks
        float32 ``(n_chunks, 40, 80)`` (``spec.prepare``'s output) to class probabilities float64
        ``(n_classes,)``.

    Raises:
        ConfigError: another fold function, unreadable statistics, or a checkpoint that does not load.
    """
    run_fold = source.scheme.run_fold
    if getattr(run_fold, "func", None) is not run_scheme_fold:
        raise not_supported(source, "its run_fold is not papers.mcclstm.protocol.run_scheme_fold")
    scheme, model_config, training = run_fold.args
    notes = []
    standardize = load_standardizer(source.unit_dir)
    if standardize is None:
        standardize, note = recompute_standardizer(source)
        notes.append(note)
    keras.backend.clear_session()
    model = build_model(scheme, len(source.classes), model_config)
    load_checkpoint(model, source)

    def probabilities(chunks: np.ndarray) -> np.ndarray:
        data = TrackChunks.from_tracks([standardize(np.asarray(chunks, dtype=np.float32))], np.zeros(1, np.int64))
        return np.asarray(predict_tracks(model, data, scheme.lstm, training.batch_size)[0], dtype=np.float64)

    features = source.spec.extractor().config
    hop = features.frame_duration
    band_hz = librosa.mel_frequencies(n_mels=features.n_mels + 2, fmin=features.fmin,
                                      fmax=features.fmax or features.sample_rate / 2)[1:-1]

    def input_check(chunks: np.ndarray) -> str | None:
        return out_of_range_bands(standardize(np.asarray(chunks, dtype=np.float32)), band_hz)

    def describe_input(chunks: np.ndarray) -> str:
        n = len(chunks)
        return f"{n} chunk{'s' if n != 1 else ''} of {CHUNK_FRAMES * hop:.3f} s"

    if scheme.lstm:
        model_input = {"chunks": {"shape": [None, None, model_config.n_bands, model_config.n_frames],
                                  "dtype": "float32", "meaning": "the file's standardised chunks, in time order"},
                       "n_chunks": {"shape": [None], "dtype": "int32",
                                    "meaning": "number of real chunks per file (steps beyond it are masked)"}}
        aggregation = ("sequence model: one call per file with all its chunks, "
                       "{'chunks': x[None], 'n_chunks': [len(x)]} -> (1, n_classes)")
    else:
        model_input = {"shape": [None, model_config.n_bands, model_config.n_frames], "dtype": "float32",
                       "meaning": "standardised chunks, a batch of any of the file's chunks"}
        aggregation = "chunk model: the file's probabilities are the mean of its chunks' softmax outputs"
    return FoldModel(
        model=model, outputs="classes", probabilities=probabilities, describe_input=describe_input,
        preprocessing={
            "chunking": {"chunk_frames": CHUNK_FRAMES, "chunk_seconds": CHUNK_FRAMES * hop, "overlap": 0,
                         "layout": "chunk k = frames [80k, 80k + 80) of the (n_mels, n_frames) log-mel; "
                                   "frames after the last whole chunk are dropped; files shorter than one chunk "
                                   "are refused",
                         "shape": [None, model_config.n_bands, model_config.n_frames]},
            "standardization": {"kind": "per mel band, fitted on the fold's training chunks",
                                "formula": "(x[:, band, :] - mean[band]) / std[band]",
                                "mean": standardize.mean, "std": standardize.std},
            "input": model_input,
            "aggregation": aggregation,
        },
        notes=notes, input_check=input_check)
