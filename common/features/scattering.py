"""Time scattering coefficients (first and second order) with kymatio, computed over whole tracks.

A time scattering transform (Andén & Mallat 2014) averages wavelet-modulus coefficients over a
window of ``T`` samples: first order ``|x * psi_l1| * phi_T``, second order
``||x * psi_l1| * psi_l2| * phi_T``. :class:`ScatteringExtractor` turns an audio file into a
sequence of scattering frames ``(n_frames, n_coefficients)``, the unit the feature cache stores
(LSTM segment features, Sec. 2.1: "first-order and second-order time scattering coefficients
using a window of 370 ms with half overlap").

kymatio 0.3's 1D frontends are imported directly (``import kymatio`` fails on SciPy >= 1.17,
whose ``sph_harm`` it imports for the 3D transform).

**Whole tracks in blocks.** kymatio keeps one Fourier-domain copy of every wavelet at the padded
signal length (a power of two at least ``N + 2 * 3 * support(phi)``); for a 4-minute song that is
2**23 samples and several GB of filters. The track is therefore cut into overlapping blocks of
``block_frames * hop`` samples; each block carries ``context_frames`` frames of real signal on
either side, whose outputs are discarded, so every kept frame sees the same neighbourhood as in a
whole-signal transform. The track ends are reflect-padded like kymatio pads a whole signal.
``tests/common/features/test_scattering.py`` checks blocked against whole-signal output.

Frame ``t`` is centred on sample ``t * hop`` (``hop = 2**(log2(T) - oversampling)``); a signal of
``N`` samples gives ``ceil(N / hop)`` frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from common.audio.decoding import load_audio
from common.errors import AudioError

#: Bump when the numerical definition of the scattering feature changes (invalidates the cache).
SCATTERING_CODE_VERSION = 1


@dataclass(frozen=True)
class ScatteringConfig:
    """Every parameter of the scattering frames.

    Attributes:
        sample_rate: Hz; audio is resampled to it first.
        J: kymatio's maximum log2-scale of the wavelets (samples).
        Q: wavelets per octave of the first and second filter banks, ``(Q1, Q2)``.
        T: averaging window (support of the low-pass ``phi``), samples; a power of two.
        oversampling: frames per window is ``2**oversampling`` (1: hop ``T / 2``, half overlap).
        include_zeroth_order: keep the zeroth-order coefficient ``x * phi_T`` (a local mean of the
            waveform; the paper uses first and second order only).
        log_offset: features are ``log(S + log_offset)`` (natural log); None keeps ``S`` itself.
        block_frames: frames computed per block, context included.
        context_frames: frames discarded on each side of a block (real signal context).
        backend: ``"numpy"`` (kymatio NumPy frontend, CPU) or ``"tensorflow"`` (kymatio
            TensorFlow frontend, float32, runs on a GPU when TensorFlow sees one).
        precision: ``"float32"`` or ``"float64"`` arithmetic of the NumPy backend (float32 is
            about twice as fast; the TensorFlow backend always uses float32).
        batch_blocks: blocks transformed together (memory ~ ``batch_blocks`` x 1 GB at the
            paper's setting with the NumPy backend). Default 1: one block at a time was 1.27x
            faster than 2 and 1.25x faster than 8 on the 2-core machine (``make bench-floors``,
            ``results/bench/floors_cpu2.csv``: a smaller working set in the CPU caches); the
            values do not depend on it.
    """

    sample_rate: int = 22050
    J: int = 12
    Q: tuple = (8, 1)
    T: int = 8192
    oversampling: int = 1
    include_zeroth_order: bool = False
    log_offset: float | None = 2.0 ** -20
    block_frames: int = 196
    context_frames: int = 16
    backend: str = "numpy"
    precision: str = "float32"
    batch_blocks: int = 1

    def __post_init__(self):
        if self.T < 2 or self.T & (self.T - 1):
            raise ValueError(f"ScatteringConfig.T must be a power of two >= 2, got {self.T}")
        if not 0 <= self.oversampling < int(math.log2(self.T)):
            raise ValueError(f"oversampling must be in [0, log2(T)), got {self.oversampling}")
        if self.block_frames - 2 * self.context_frames < 1 or self.context_frames < 0:
            raise ValueError("need block_frames > 2 * context_frames >= 0")
        if self.backend not in ("numpy", "tensorflow"):
            raise ValueError(f"backend must be 'numpy' or 'tensorflow', not {self.backend!r}")
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', not {self.precision!r}")
        if len(tuple(self.Q)) != 2:
            raise ValueError(f"Q must be (Q1, Q2), got {self.Q!r}")

    @property
    def hop(self) -> int:
        """Samples between consecutive frames: ``T / 2**oversampling``."""
        return self.T >> self.oversampling

    @property
    def window_seconds(self) -> float:
        """Averaging window ``T`` in seconds (8192 samples at 22050 Hz: 0.3715 s)."""
        return self.T / self.sample_rate

    @property
    def hop_seconds(self) -> float:
        """Seconds between frames."""
        return self.hop / self.sample_rate

    @property
    def block_samples(self) -> int:
        """Length of one transformed block, samples (context included)."""
        return self.block_frames * self.hop

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a signal of ``n_samples`` samples: ``ceil(n_samples / hop)``."""
        return -(-n_samples // self.hop)

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of the configuration and :data:`SCATTERING_CODE_VERSION`.

        ``batch_blocks`` is left out: it changes memory use, not the values; ``precision`` is
        left out for the TensorFlow backend, which always computes in float32.
        """
        fields = dataclasses.asdict(self)
        fields.pop("batch_blocks")
        if self.backend == "tensorflow":
            fields.pop("precision")
        fields["Q"] = list(self.Q)
        payload = json.dumps({"kind": "scattering", "version": SCATTERING_CODE_VERSION, **fields},
                             sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]


def _kymatio_meta(config: ScatteringConfig) -> dict:
    from kymatio.scattering1d.utils import compute_meta_scattering

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compute_meta_scattering(config.J, tuple(config.Q), config.T, 2, math.sqrt(0.5), 0.1, 5.0)


def coefficient_orders(config: ScatteringConfig) -> np.ndarray:
    """Scattering order (0, 1 or 2) of every output dimension, int ``(n_coefficients,)``."""
    order = np.asarray(_kymatio_meta(config)["order"])
    return order if config.include_zeroth_order else order[order > 0]


def n_coefficients(config: ScatteringConfig) -> int:
    """Dimension of a scattering frame: 545 (86 first + 459 second order) at the defaults."""
    return int(coefficient_orders(config).size)


class BlockScattering:
    """kymatio time scattering of whole signals, computed block by block (see module docstring).

    Args:
        config: transform parameters.
    """

    def __init__(self, config: ScatteringConfig):
        self.config = config
        self._transform = None
        order = np.asarray(_kymatio_meta(config)["order"])
        self._keep = np.flatnonzero(order >= (0 if config.include_zeroth_order else 1))

    def __getstate__(self) -> dict:
        """Pickled without the built transform (its filters; a TensorFlow one cannot be pickled):
        a copy in a feature-extraction worker builds its own on first use."""
        return {**self.__dict__, "_transform": None}

    def _build(self):
        config = self.config
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kymatio 0.3 deprecation notices
            kwargs = dict(J=config.J, shape=config.block_samples, Q=tuple(config.Q), T=config.T,
                          max_order=2, oversampling=config.oversampling)
            if config.backend == "numpy":
                from kymatio.scattering1d.frontend.numpy_frontend import ScatteringNumPy1D

                self._transform = ScatteringNumPy1D(**kwargs)
                if config.precision == "float32":
                    # kymatio 0.3 keeps each filter as a list of Fourier-domain arrays (one per
                    # subsampling level); float32 filters and input make every FFT single precision
                    for bank in (*self._transform.psi1_f, *self._transform.psi2_f, self._transform.phi_f):
                        bank["levels"] = [np.asarray(level, dtype=np.float32) for level in bank["levels"]]
            else:
                from kymatio.scattering1d.frontend.tensorflow_frontend import ScatteringTensorFlow1D

                self._transform = ScatteringTensorFlow1D(**kwargs)

    def _blocks(self, blocks: np.ndarray) -> np.ndarray:
        """Scattering of ``(B, block_samples)`` -> ``(B, n_all_coefficients, block_frames)``."""
        if self._transform is None:
            self._build()
        if self.config.backend == "numpy":
            return np.asarray(self._transform.scattering(blocks.astype(self.config.precision)), dtype=np.float64)
        import tensorflow as tf

        return self._transform.scattering(tf.constant(blocks.astype(np.float32))).numpy()

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        """Scattering frames of a whole signal.

        Args:
            signal: mono audio ``(n_samples,)`` at ``config.sample_rate``, at least 2 samples.

        Returns:
            float64 ``(ceil(n_samples / hop), n_coefficients)``, before log compression; row
            ``t`` is centred on sample ``t * hop``.

        Raises:
            ValueError: ``signal`` is not a 1-D array of at least 2 samples.
        """
        signal = np.asarray(signal, dtype=np.float64)
        if signal.ndim != 1 or signal.size < 2:
            raise ValueError(f"need a 1-D signal of at least 2 samples, got shape {signal.shape}")
        config = self.config
        hop, context = config.hop, config.context_frames
        core = config.block_frames - 2 * context
        n_frames = config.n_frames(signal.size)
        n_blocks = -(-n_frames // core)
        total = n_blocks * core * hop + 2 * context * hop
        left = context * hop
        padded = np.pad(signal, (left, total - left - signal.size), mode="reflect")
        starts = np.arange(n_blocks) * core * hop
        out = np.empty((n_blocks, core, self._keep.size), dtype=np.float64)
        for first in range(0, n_blocks, config.batch_blocks):
            chunk = starts[first:first + config.batch_blocks]
            blocks = np.stack([padded[s:s + config.block_samples] for s in chunk])
            coefficients = self._blocks(blocks)[:, self._keep, context:context + core]
            out[first:first + len(chunk)] = coefficients.transpose(0, 2, 1)
        return out.reshape(n_blocks * core, self._keep.size)[:n_frames]


class ScatteringExtractor:
    """Audio file -> log time-scattering frames, the unit the feature cache stores.

    Args:
        config: transform parameters.
        min_duration: shortest accepted audio, seconds (default: one window ``T``); shorter
            files raise :class:`~common.errors.AudioError`.
    """

    kind = "scattering"

    def __init__(self, config: ScatteringConfig, min_duration: float | None = None):
        self.config = config
        self.min_duration = config.window_seconds if min_duration is None else min_duration
        self._scattering = BlockScattering(config)

    def fingerprint(self) -> str:
        """Hash of everything that determines the output (config, minimum duration)."""
        return hashlib.sha1(f"{self.config.fingerprint()}-{self.min_duration}".encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """JSON-serialisable description recorded in run manifests."""
        return {"kind": self.kind, **dataclasses.asdict(self.config), "Q": list(self.config.Q),
                "hop": self.config.hop, "hop_seconds": self.config.hop_seconds,
                "window_seconds": self.config.window_seconds,
                "n_coefficients": n_coefficients(self.config), "min_duration": self.min_duration}

    def __call__(self, path: str | os.PathLike, *, band_limit_rate: int | None = None) -> np.ndarray:
        """Compute the float32 ``(n_frames, n_coefficients)`` scattering frames of one file.

        Args:
            path: the audio file.
            band_limit_rate: Hz, or None: decode as a recording made at that rate would sound
                (``predict``: the training audio's own rate; see :func:`common.audio.decoding.load_audio`).

        Raises:
            AudioError: the file cannot be loaded or is shorter than ``min_duration``.
        """
        signal = load_audio(path, self.config.sample_rate, min_duration=self.min_duration,
                            band_limit_rate=band_limit_rate)
        if signal.size < 2:
            raise AudioError(path, "too short for a scattering transform")
        frames = self._scattering(signal)
        if self.config.log_offset is not None:
            frames = np.log(np.maximum(frames, 0.0) + self.config.log_offset)
        return frames.astype(np.float32)
