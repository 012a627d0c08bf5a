"""MCCLSTM settings (Chen & Wang, ISMIR 2017): the paper's values, and every choice it leaves open.

Each field says where it comes from: ``paper`` (section/table) or ``choice`` with the reason.
``papers/mcclstm/README.md`` lists every choice and deviation in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from common.features.logmel import LogMelConfig
from common.training.trainer import TrainingConfig

#: paper Sec. 2.1 / 3: 44.1 kHz; Blackman-Harris window of 2048 samples, hop 1024; 40 mel bands; log.
#: choice: log = dB (10 log10 of mel power; the paper says only "log-mel"); fmin 0, fmax sr/2.
#: choice: center=False (uncentred frames, no padding; the paper does not say). A centred STFT pads
#: zeros before the clip's first sample, and the step into a clip that starts mid-sound leaks
#: broadband energy into frame 0: on 22,050 Hz GTZAN the 6 mel bands above 11.025 kHz are at the
#: -100 dB floor in every frame but frame 0, where they read -48 to -75 dB, and standardisation made
#: that z = 13 to 40 (README, "Input scaling"). Reflect / edge padding leak as much. Uncentred frames
#: lie wholly inside the signal; a 30 s track gives 1290 frames, still 16 chunks of 80.
FEATURES = LogMelConfig(sample_rate=44100, n_fft=2048, hop_length=1024, window="blackmanharris",
                        n_mels=40, fmin=0.0, fmax=None, power=2.0, log="db", center=False)

#: choice: floor (dB) on the per-band standard deviation of the input standardisation. A band whose
#: level varies by less than 1 dB over the training chunks (a band above the source's Nyquist
#: frequency, e.g. above 11.025 kHz for 22,050 Hz GTZAN; live bands have std 8.6 to 15 dB) is then
#: scaled as dB instead of being blown up: without it, 0.2 dB wobbles near the -100 dB floor became
#: |z| = 4.4 on rock.00000 (README, "Input scaling").
STANDARDIZATION_STD_FLOOR_DB = 1.0

#: paper Sec. 3: chunks of M = 40 bands x N = 80 frames, no overlap. 80 frames at hop 1024 and
#: 44.1 kHz span 1.858 s (the paper's "3.712 s" equals 80 x the 2048-sample window length, not the
#: hop; we follow the stated M, N, window and hop, which gives the 16 chunks per 30 s track).
CHUNK_FRAMES = 80


@dataclass(frozen=True)
class MCCLSTMConfig:
    """Model settings of all MCCLSTM schemes (Tables 1-2, Sec. 3).

    Attributes:
        n_bands: M, mel bands per chunk (paper: 40).
        n_frames: N, frames per chunk (paper: 80).
        pitch_kernel, pitch_pool: P-channel conv / max-pool sizes (paper Table 1: (32,1), (1,80)).
        tempo_kernel, tempo_pool: T-channel (paper Table 1: (1,60), (40,1)).
        bass_kernel, bass_pool: B-channel (paper Table 1: (13,9), (4,4)). Sizes are (frequency,
            time), as P (32,1) and T (1,60) show; (13,9) is 13 bands x 9 frames, which contradicts
            Sec. 2.1's "wide in time and narrow in frequency (m < n)". The default keeps Table 1's
            numbers (the only explicit sizes; Table 1 is what the paper's results are listed
            against); :data:`BASS_KERNEL_TIME_WIDE` = (9, 13) is the text's reading.
        channel_filters: filters per CNN channel (choice: 32; the paper does not give it).
        fc_units_two, fc_units_three: fused FC layer for 2 / 3 channels (paper Sec. 3: 200 / 400).
        lstm_units_two, lstm_units_three: LSTM units for 2 / 3 channels (paper Sec. 3: 100 / 200).
        lstm_only_units: LSTM units of R1 (choice: 100, the two-channel size; paper silent).
        cnn3_filters: filters of CNNs-3's two conv layers (choice: 32, 32; paper silent).
        cnn3_kernels, cnn3_pools: paper Sec. 3.2.1: (5,5), (3,3); pools (2,2), (2,2).
        cnn3_fc_units: paper Sec. 3.2.1: 200.
        activation: conv / FC non-linearity (choice: ReLU; paper silent).
        dropout: dropout before the softmax (choice: 0.5; paper silent, small datasets overfit).
        init_stddev: std of the Gaussian initialiser of CNN and LSTM weights (conv kernels, LSTM
            input and recurrent kernels; never the FC layers or the softmax, which the paper does
            not name), or None for Keras defaults (Glorot uniform / orthogonal). Paper Sec. 3:
            "all CNN and LSTM layers" Gaussian, variance 1. Choice:
            None, because N(0, 1) weights saturate the network (initial loss about 12 on real
            chunks, against 2.4 with the defaults) and the models do not train (see README,
            "Initialisation"); ``tables.paper_init`` / ``table3_gtzan_paper_init`` restores it.
    """

    n_bands: int = 40
    n_frames: int = CHUNK_FRAMES
    pitch_kernel: tuple = (32, 1)
    pitch_pool: tuple = (1, 80)
    tempo_kernel: tuple = (1, 60)
    tempo_pool: tuple = (40, 1)
    bass_kernel: tuple = (13, 9)
    bass_pool: tuple = (4, 4)
    channel_filters: int = 32
    fc_units_two: int = 200
    fc_units_three: int = 400
    lstm_units_two: int = 100
    lstm_units_three: int = 200
    lstm_only_units: int = 100
    cnn3_filters: tuple = (32, 32)
    cnn3_kernels: tuple = ((5, 5), (3, 3))
    cnn3_pools: tuple = ((2, 2), (2, 2))
    cnn3_fc_units: int = 200
    activation: str = "relu"
    dropout: float = 0.5
    init_stddev: float | None = None


#: The bass kernel read as the text describes it (Sec. 2.1: "wide in time and narrow in frequency
#: (i.e. m < n)"): 9 bands x 13 frames, Table 1's numbers transposed. Option, not the default (see
#: ``MCCLSTMConfig.bass_kernel``); ``tables.table3_gtzan_bass_time_wide`` runs Table 3 with it.
BASS_KERNEL_TIME_WIDE = (9, 13)


#: Paper Sec. 3: "asynchronous stochastic gradient descent" -- no single-machine equivalent; we use
#: synchronous mini-batch SGD with Nesterov momentum 0.9 (choice). Learning rate 0.01, batch 32
#: chunks, at most 100 epochs, early stopping with patience 10 on validation loss (choices: paper silent).
CHUNK_TRAINING = TrainingConfig(optimizer="sgd", learning_rate=0.01, momentum=0.9, nesterov=True,
                                batch_size=32, epochs=100, patience=10, clipnorm=5.0)

#: Sequence (LSTM) schemes: batch 8 tracks (choice: ~ the same number of chunks per batch as the
#: chunk schemes on 30 s tracks would see in 2 batches), otherwise as CHUNK_TRAINING.
SEQUENCE_TRAINING = replace(CHUNK_TRAINING, batch_size=8)

#: Split protocol seed (choice) and the base seed of weight initialisation and shuffling.
SEED = 2017


@dataclass(frozen=True)
class SchemeSpec:
    """One architecture of Table 2 (or a baseline of Sec. 3.2.1).

    Attributes:
        name: the paper's ID (``"R0"`` ... ``"MCCLSTM"``, ``"CNNs-3"``).
        channels: CNN channels fused, a subset of ``("T", "P", "B")`` (empty for R1 and CNNs-3).
        lstm: True when an LSTM runs over the track's chunk sequence (track-level model).
        architecture: the paper's description.
    """

    name: str
    channels: tuple = ()
    lstm: bool = False
    architecture: str = ""
    extra: dict = field(default_factory=dict)


#: Table 2 of the paper plus the CNNs-3 baseline (Sec. 3.2.1), in the tables' row order.
SCHEMES = (
    SchemeSpec("CNNs-3", (), False, "conv (5,5), pool (2,2), conv (3,3), pool (2,2), FC 200 (Sec. 3.2.1)"),
    SchemeSpec("R0", ("T",), False, "CNNs (T)"),
    SchemeSpec("R1", (), True, "LSTM only, on the chunk sequence"),
    SchemeSpec("R2", ("T", "P"), False, "CNNs (T+P) [16]"),
    SchemeSpec("R3", ("T", "P", "B"), False, "CNNs (T+P+B)"),
    SchemeSpec("R4", ("T", "P"), True, "CNNs (T+P) + LSTM"),
    SchemeSpec("MCCLSTM", ("T", "P", "B"), True, "CNNs (T+P+B) + LSTM"),
)
