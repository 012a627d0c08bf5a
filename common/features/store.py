"""Memory-mapped feature store: the fixed-shape features of one split in one ``.npy`` file.

Per-clip cache entries (:mod:`common.features.cache`) are convenient to compute and reuse, but a GPU
training on whole 96 x 1366 spectrograms needs them as one array it can gather batches from
quickly. A :class:`ClipFeatureStore` is that array on disk: ``features.npy`` holds
``(n_clips, *shape)`` in ``float16`` (half the bytes of float32; a dB value of a log-mel
spectrogram keeps ~3 significant digits, < 0.03 dB error up to 64 dB) or ``float32``, opened with
``numpy.load(mmap_mode="r")``, so the operating system's page cache, not the Python process,
holds it, and :func:`common.training.pipeline.clip_dataset` streams batches from it with tf.data.

Layout of a store folder::

    features.npy   (n_clips, *shape) array
    ids.json       clip ids in row order
    meta.json      {"fingerprint", "shape", "dtype", "n_clips"}; written last

A store is reused when its ``meta.json`` has the requested fingerprint (a hash of the ids and the
exact contents of every array, :func:`content_fingerprint`), and rebuilt otherwise. Writing is
interruption-safe: ``meta.json`` is removed first and written last, and ``features.npy`` is
written to a temporary file that is renamed into place, so a store without a valid ``meta.json``
is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from common.atomic_files import atomic_write_text

STORE_DTYPES = ("float16", "float32")


def content_fingerprint(ids: Sequence[str], get: Callable[[str], np.ndarray], dtype: str = "float16") -> str:
    """Hash of the clip ids, the storage dtype and every array's shape and bytes (BLAKE2b).

    Args:
        ids: clip ids in row order.
        get: ``id -> array``.
        dtype: storage dtype (part of the hash).

    Returns:
        32-hex-digit fingerprint.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([list(ids), dtype]).encode())
    for clip_id in ids:
        array = np.ascontiguousarray(get(clip_id))
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


class ClipFeatureStore:
    """A split's features as a read-only memory-mapped array.

    Attributes:
        folder: the store folder.
        ids: clip ids, row order.
        features: ``np.memmap`` ``(n_clips, *shape)`` (read-only).
        fingerprint: the content fingerprint it was built for.
    """

    def __init__(self, folder: Path, ids: tuple[str, ...], features: np.ndarray, fingerprint: str):
        self.folder = folder
        self.ids = ids
        self.features = features
        self.fingerprint = fingerprint

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "ClipFeatureStore":
        """Open a complete store.

        Raises:
            ValueError: the folder holds no complete, consistent store (missing or unreadable
                ``meta.json`` / ``ids.json`` / ``features.npy``, or shapes that disagree).
        """
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            ids = tuple(json.loads((folder / "ids.json").read_text()))
            features = np.load(folder / "features.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"{folder}: no complete feature store ({type(exc).__name__}: {exc})") from None
        expected = (meta.get("n_clips"), *meta.get("shape", []))
        if features.shape != tuple(expected) or len(ids) != features.shape[0] or \
                str(features.dtype) != meta.get("dtype"):
            raise ValueError(f"{folder}: inconsistent feature store (array {features.shape} {features.dtype}, "
                             f"{len(ids)} ids, meta {meta})")
        return cls(folder, ids, features, meta["fingerprint"])

    @classmethod
    def build(cls, folder: str | os.PathLike, ids: Sequence[str], get: Callable[[str], np.ndarray], *,
              dtype: str = "float16", fingerprint: str | None = None) -> "ClipFeatureStore":
        """Open the store in ``folder`` if it holds these features, else (re)write it.

        Args:
            folder: store folder (created if needed).
            ids: clip ids in row order (at least one).
            get: ``id -> array``; every array must have the same shape.
            dtype: ``"float16"`` or ``"float32"`` (storage type).
            fingerprint: precomputed :func:`content_fingerprint`, or None to compute it.

        Returns:
            the opened store.

        Raises:
            ValueError: no ids, an unknown dtype, arrays of different shapes, or non-finite values
                after conversion to ``dtype`` (e.g. float16 overflow beyond 65504).
        """
        if dtype not in STORE_DTYPES:
            raise ValueError(f"store dtype must be one of {STORE_DTYPES}, not {dtype!r}")
        ids = tuple(ids)
        if not ids:
            raise ValueError("a feature store needs at least one clip")
        folder = Path(folder)
        fingerprint = fingerprint or content_fingerprint(ids, get, dtype)
        try:
            store = cls.open(folder)
            if store.fingerprint == fingerprint and store.ids == ids:
                return store
        except ValueError:
            pass
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)
        shape = tuple(np.shape(get(ids[0])))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".features.", suffix=".npy")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(ids), *shape))
            for row, clip_id in enumerate(ids):
                array = np.asarray(get(clip_id))
                if array.shape != shape:
                    raise ValueError(f"clip {clip_id}: features of shape {array.shape}, expected {shape}")
                with np.errstate(over="ignore"):
                    converted = array.astype(dtype)
                if not np.all(np.isfinite(converted)):
                    raise ValueError(f"clip {clip_id}: non-finite features after conversion to {dtype}")
                out[row] = converted
            out.flush()
            del out
            os.replace(tmp, folder / "features.npy")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        atomic_write_text(folder / "ids.json", json.dumps(list(ids)))
        atomic_write_text(folder / "meta.json", json.dumps({"fingerprint": fingerprint, "shape": list(shape),
                                                            "dtype": dtype, "n_clips": len(ids)}))
        return cls.open(folder)


#: The parts of a fold, in the order stores are built.
SPLIT_PARTS = ("train", "validation", "test")


def table_store_root(work_dir: str | os.PathLike) -> Path:
    """Folder of a table's feature stores, ``<work>/<paper>/<table>/feature_store``.

    Args:
        work_dir: a fold's scratch folder as the runner lays it out,
            ``<work>/<paper>/<table>/<scheme>/fold_<k>`` (``FoldContext.work_dir``).

    Returns:
        the folder shared by every scheme and fold of the table.
    """
    return Path(work_dir).parents[1] / "feature_store"


def split_feature_stores(split, features, root: str | os.PathLike, dtype: str = "float16") -> dict:
    """Memory-mapped stores of a fold's train / validation / test features (one per non-empty part).

    A part's store is reused while its clips and their contents are unchanged (a single
    predefined split: built once for every scheme), and rebuilt otherwise (cross-validation: each
    fold's parts differ).

    Args:
        split: a :class:`common.evaluation.splits.Split` (``train``, ``validation``, ``test`` id lists).
        features: ``{clip_id: array}`` of fixed-shape features (``FoldContext.features``).
        root: folder holding one store folder per part (e.g. :func:`table_store_root`).
        dtype: storage dtype, ``"float16"`` or ``"float32"``.

    Returns:
        ``{part: ClipFeatureStore}`` for the parts with clips; rows in the split's id order.

    Raises:
        ValueError: as :meth:`ClipFeatureStore.build`.
    """
    root = Path(root)
    return {part: ClipFeatureStore.build(root / part, ids, features.__getitem__, dtype=dtype)
            for part in SPLIT_PARTS if (ids := getattr(split, part))}


class StandardizedView:
    """Read-only view ``(x - mean) / std`` of an array-like, applied to each gathered batch.

    For :func:`common.training.pipeline.clip_dataset`: it has ``shape``, ``len()`` and ``view[int_array]``
    like the memory map it wraps, so a standardisation fitted on the training rows is applied while
    streaming, without a standardised copy on disk or in memory.

    Args:
        features: array-like ``(n, *shape)`` (e.g. :attr:`ClipFeatureStore.features`).
        mean, std: float ``shape`` arrays (broadcast against each row).
    """

    def __init__(self, features, mean: np.ndarray, std: np.ndarray):
        self.features = features
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    @property
    def shape(self) -> tuple:
        return tuple(self.features.shape)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index) -> np.ndarray:
        return ((np.asarray(self.features[index], dtype=np.float32) - self.mean) / self.std).astype(np.float32)


def elementwise_mean_std(features, floor: float = 1e-3, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every element position over the rows, read in blocks.

    Args:
        features: array-like ``(n, *shape)`` with ``n >= 1`` (a memory map is read ``block`` rows at a time).
        floor: lower bound of the standard deviation (constant positions).
        block: rows per read.

    Returns:
        ``(mean, std)``, float32 arrays of shape ``shape`` (population std, as ``numpy.std``).
    """
    n = len(features)
    if n == 0:
        raise ValueError("elementwise_mean_std: no rows")
    total = np.zeros(features.shape[1:], dtype=np.float64)
    squares = np.zeros_like(total)
    for start in range(0, n, block):
        rows = np.asarray(features[start:start + block], dtype=np.float64)
        total += rows.sum(axis=0)
        squares += np.square(rows).sum(axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - np.square(mean), 0.0))
    return mean.astype(np.float32), np.maximum(std, floor).astype(np.float32)


class FrameSequenceFile:
    """Variable-length frame sequences (tracks) one after another in a scratch file, memory-mapped.

    For frame-level training on whole songs (LSTM segment, ISMIR 2004: ~1,000,000 frames x 545
    coefficients, 2 GB of float32 training frames), so that neither the concatenation of all
    training frames nor the shuffled copy a ``fit`` makes lives in the process's memory: the
    operating system's page cache holds the file and batches are gathered from it.

    Written in one pass over the tracks (each read once, :meth:`write`); rows are float32
    ``(n_frames_total, dim)``, track ``k`` at rows ``offsets[k] : offsets[k] + lengths[k]``. The file
    is a scratch file of one unit of work, never reused by a later run; :meth:`close` removes it.

    Attributes:
        path: the file (raw little-endian float32, C order, no header).
        frames: read-only ``numpy.memmap`` float32 ``(n_frames_total, dim)``.
        lengths: int64 ``(n_tracks,)`` frames per track, in write order.
        offsets: int64 ``(n_tracks,)`` first row of each track.
    """

    def __init__(self, path: Path, frames: np.ndarray, lengths: np.ndarray):
        self.path, self.frames, self.lengths = Path(path), frames, lengths
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)

    @classmethod
    def write(cls, tracks, path: str | os.PathLike) -> "FrameSequenceFile":
        """Write ``tracks`` (an iterable of ``(n_frames_i, dim)`` arrays, each read once) to ``path``.

        The file is written under a temporary name in the same folder and renamed into place when
        complete, so ``path`` never holds a partial file.

        Raises:
            ValueError: no track, no frame at all, or tracks of different ``dim`` (names the track number).
            OSError: the folder is not writable or the disk is full (the message names ``path``);
                nothing is left behind.
        """
        path = Path(path)
        lengths, dim = [], None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                                 delete=False)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write the frame file {path}: {exc.strerror or exc}") from exc
        try:
            with handle:
                for k, track in enumerate(tracks):
                    track = np.ascontiguousarray(track, dtype="<f4")
                    if track.ndim != 2 or (dim is not None and track.shape[1] != dim):
                        raise ValueError(f"frame file {path}: track {k} has shape {track.shape}, "
                                         f"expected (n_frames, {dim if dim is not None else 'dim'})")
                    dim = track.shape[1]
                    handle.write(track.data)
                    lengths.append(len(track))
            if not lengths or sum(lengths) == 0:
                raise ValueError(f"frame file {path}: no frame to write")
            os.replace(handle.name, path)
        except OSError as exc:
            Path(handle.name).unlink(missing_ok=True)
            raise OSError(exc.errno, f"cannot write the frame file {path}: {exc.strerror or exc}") from exc
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        frames = np.memmap(path, dtype="<f4", mode="r", shape=(int(sum(lengths)), dim))
        return cls(path, frames, np.asarray(lengths, dtype=np.int64))

    def track(self, k: int) -> np.ndarray:
        """Frames of track ``k`` (a read-only view into the file), float32 ``(lengths[k], dim)``."""
        return self.frames[self.offsets[k]:self.offsets[k] + self.lengths[k]]

    def close(self) -> None:
        """Drop the mapping and remove the file (idempotent)."""
        mapping = getattr(self.frames, "_mmap", None)
        self.frames = None
        if mapping is not None:
            try:
                mapping.close()
            except (BufferError, ValueError):  # a view still refers to it: the OS frees it with the last one
                pass
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "FrameSequenceFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
