"""LSTM segment features (ISMIR 2004 genres): the paper's settings, and every choice it leaves open.

Each field says where it comes from: ``paper`` (section/table), ``Kaldi`` (the paper trains with
Kaldi's nnet1 and says "other parameters use the default values": the default is taken from
Kaldi's scripts/tools of that time, named) or ``choice`` with the reason.
``papers/lstm_segment/README.md`` lists every choice and deviation in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from common.features.scattering import ScatteringConfig

#: paper Sec. 2.1, 3.1: 22050 Hz mono; first- and second-order time scattering, window 370 ms,
#: half overlap; 525 dimensions with ScatNet. kymatio (the house library) cannot reproduce
#: ScatNet's filter bank exactly. T = 8192 samples = 371.5 ms (paper: 370 ms); oversampling 1 =
#: hop T/2 = 185.8 ms (half overlap); Q = (8, 1) (ScatNet's audio default, Andén & Mallat);
#: choice: J = 12, whose 86 + 459 = 545 coefficients come closest to the paper's 525 (J = 13 gives
#: 643, J = 11 gives 455) and whose largest wavelet (2**12 samples) stays within the window as in
#: ScatNet; zeroth order dropped (paper: first and second order only); choice: log(S + 2**-20),
#: ScatNet's log_scat default offset (the paper does not say whether it compresses). Blocks of
#: 196 frames with 16 frames of context per side (see common/features/scattering.py; the blocked frames
#: match whole-signal kymatio output, tested); choice: float32 arithmetic (twice as fast as float64;
#: differences far below the 2**-20 log offset).
SCATTERING = ScatteringConfig(sample_rate=22050, J=12, Q=(8, 1), T=8192, oversampling=1,
                              include_zeroth_order=False, log_offset=2.0 ** -20,
                              block_frames=196, context_frames=16, backend="numpy", precision="float32")


@dataclass(frozen=True)
class NewbobSchedule:
    """Kaldi nnet1's learning-rate schedule (``steps/nnet/train_scheduler.sh``, "newbob").

    Every epoch is followed by the frame cross-entropy on a held-out (cross-validation) set: the
    epoch's weights are kept only if it decreased; once the relative improvement falls below
    ``start_halving_impr`` the rate is multiplied by ``halving_factor`` after every epoch, and
    training stops when, while halving, the improvement falls below ``end_halving_impr`` (or after
    ``max_epochs``). The momentum buffer starts from zero every epoch (each Kaldi epoch is a
    separate process).

    Attributes:
        learning_rate: per-frame rate: the cross-entropy is *summed* over the frames of a
            minibatch, as in Kaldi nnet1, so the paper's rate is used as it is.
        momentum: classical momentum.
        max_epochs: epoch cap (Kaldi ``max_iters``).
        halving_factor: rate multiplier once halving has started.
        start_halving_impr: Kaldi default 0.01.
        end_halving_impr: Kaldi default 0.001.
        clip_value: element-wise gradient clipping, or None.
    """

    learning_rate: float
    momentum: float = 0.0
    max_epochs: int = 20
    halving_factor: float = 0.5
    start_halving_impr: float = 0.01
    end_halving_impr: float = 0.001
    clip_value: float | None = None


@dataclass(frozen=True)
class DNNConfig:
    """A baseline DNN of Table 2 (paper Sec. 3.2).

    Attributes:
        name: the paper's row name.
        hidden_units: sizes of the sigmoid hidden layers (paper: (1024,) or (1024, 1024)).
        batch_size: frames per minibatch (Kaldi ``nnet-train-frmshuff`` default 256; paper silent).
        schedule: paper Sec. 3.2: rate 8e-6, 100 epochs, no dropout; Kaldi defaults otherwise
            (momentum 0, halving factor 0.5).
        param_stddev_factor, hid_bias_mean, hid_bias_range: Kaldi ``make_nnet_proto.py`` defaults
            (0.1, -2, 4): Gaussian weights with std ``0.1 * 35 * sqrt(2 / (n_in + n_out))``
            (x sqrt(1/12) for the input layer), hidden biases uniform in [-4, 0], output bias 0
            ("random initialization", paper Sec. 3.2).
    """

    name: str
    hidden_units: tuple = (1024,)
    batch_size: int = 256
    schedule: NewbobSchedule = NewbobSchedule(learning_rate=8e-6, momentum=0.0, max_epochs=100,
                                              halving_factor=0.5)
    param_stddev_factor: float = 0.1
    hid_bias_mean: float = -2.0
    hid_bias_range: float = 4.0


@dataclass(frozen=True)
class LSTMConfig:
    """An LSTM RNN of Tables 2 and 4 (paper Sec. 2.2, 4.1, Table 3; Kaldi nnet1 ``LstmProjectedStreams``).

    Attributes:
        name: the paper's row name.
        layers: ``(projection units, cell units)`` per LSTM layer: 525-512-6 is one layer with a
            512-unit recurrent projection and 800 cells (Table 3: cellDim 800/1500 for 512/1024).
        cell_clip: cell values clipped to [-50, 50] (Kaldi ``LstmProjectedStreams``).
        init_scale: LSTM weights, biases and peepholes uniform in [-0.01, 0.01] (Kaldi
            ``make_lstm_proto.py`` default ``--lstm-stddev-factor``).
        output_stddev: softmax layer weights Gaussian, std 0.04, bias 0 (``make_lstm_proto.py``).
        num_streams: parallel streams (sequences) per minibatch. Choice: 60, reading Table 3's
            "batch size 60" as the number of sequences per batch (:data:`BATCH_SIZE_READINGS`
            ``"streams"``). Kaldi's ``nnet-train-lstm-streams`` names its BPTT length
            ``--batch-size`` (default 20) and its stream count ``--num-stream`` (default 4); that
            reading, 4 streams of 60 frames, is ``"kaldi"`` (:func:`with_batch_size_reading`).
        bptt_length: frames per stream per minibatch: truncated back-propagation through time
            over 20 frames (3.7 s), the Kaldi default; the LSTM state is carried from one window to
            the next of the same track and reset when a stream starts a new track.
        schedule: paper Table 3: rate 2e-5, momentum 0.8, 50 epochs, halving factor 0.9; gradient
            clipping 5 (``make_lstm_proto.py`` default ``--clip-gradient``).
    """

    name: str
    layers: tuple = ((512, 800),)
    cell_clip: float = 50.0
    init_scale: float = 0.01
    output_stddev: float = 0.04
    num_streams: int = 60
    bptt_length: int = 20
    schedule: NewbobSchedule = NewbobSchedule(learning_rate=2e-5, momentum=0.8, max_epochs=50,
                                              halving_factor=0.9, clip_value=5.0)


#: The two readings of Table 3's "batch size 60" as ``LSTMConfig`` fields (frames per minibatch =
#: ``num_streams * bptt_length``):
#:
#: - ``"streams"`` (default): 60 parallel streams x 20 frames (Kaldi's default BPTT length), 1200
#:   frames per update. "Batch size" in its usual sense (examples per minibatch); Table 3 lists it
#:   beside the rate and momentum as a training hyper-parameter, not as a BPTT/truncation length.
#: - ``"kaldi"``: Kaldi ``nnet-train-lstm-streams`` option names (kaldi-asr/kaldi,
#:   ``src/nnetbin/nnet-train-lstm-streams.cc``): ``--batch-size`` is the "BPTT batch size", the
#:   frames each stream contributes per minibatch, and ``--num-stream`` keeps its default 4: 4 streams
#:   x 60 frames, 240 frames per update. The paper says it builds on Kaldi nnet1 and that "other
#:   parameters use the default values", which supports this reading too; it does not name the tool.
#:
#: Neither is decided by the paper or by code of the authors (none is public); the default keeps
#: the reading that gives the more stable gradient per update at the paper's per-frame learning rate
#: (5x the frames) and 15x fewer sequential steps per epoch (papers/lstm_segment/README.md).
BATCH_SIZE_READINGS = {"streams": {"num_streams": 60, "bptt_length": 20},
                       "kaldi": {"num_streams": 4, "bptt_length": 60}}

#: The reading used by :class:`LSTMConfig`'s defaults and :data:`LSTMS`.
DEFAULT_BATCH_SIZE_READING = "streams"


def with_batch_size_reading(config: "LSTMConfig", reading: str) -> "LSTMConfig":
    """``config`` with the minibatch layout of one reading of Table 3's "batch size 60".

    Args:
        config: an LSTM configuration.
        reading: a key of :data:`BATCH_SIZE_READINGS` (``"streams"`` or ``"kaldi"``).

    Returns:
        a copy with ``num_streams`` and ``bptt_length`` set; training minibatches are then
        ``(num_streams, bptt_length, n_features)`` (``papers.lstm_segment.protocol.stream_layout``).

    Raises:
        ValueError: unknown reading.
    """
    if reading not in BATCH_SIZE_READINGS:
        raise ValueError(f"unknown batch-size reading {reading!r}; use one of {sorted(BATCH_SIZE_READINGS)}")
    return replace(config, **BATCH_SIZE_READINGS[reading])


def settings_with_batch_size_reading(settings: "Settings", reading: str) -> "Settings":
    """``settings`` with every LSTM of Tables 2 and 4 switched to ``reading`` (see :func:`with_batch_size_reading`).

    Use as ``tables.table2_ismir2004(settings_with_batch_size_reading(Settings(), "kaldi"))``.
    """
    return replace(settings, lstms=tuple(with_batch_size_reading(m, reading) for m in settings.lstms))


@dataclass(frozen=True)
class SegmentConfig:
    """Segment (track-level) features and the linear SVM (paper Sec. 2.3, 4.2, Table 4, Fig. 3).

    Attributes:
        k: threshold of f_lstm^k for Table 4 (paper: 0.9).
        k_grid: thresholds of the Figure 3 curve (choice: 0.5 to 0.95 by 0.05, and 0.99; the
            paper's figure axis is not legible in our copy).
        svm_c: linear SVM penalty (choice: scikit-learn's default 1.0; paper silent).
        standardize: scale each segment-feature dimension to zero mean, unit variance on the
            training tracks before the SVM (choice: f_sc and f_lstm have very different ranges).
    """

    k: float = 0.9
    k_grid: tuple = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99)
    svm_c: float = 1.0
    standardize: bool = True


#: Table 2 baselines (paper Sec. 3.2). Names keep the paper's 525-dimensional input; ours is 545.
DNNS = (
    DNNConfig("baseline-DNN1(525-1024-6)", hidden_units=(1024,)),
    DNNConfig("baseline-DNN2(525-1024-1024-6)", hidden_units=(1024, 1024)),
)

#: Tables 2 and 4 LSTM RNNs (paper Sec. 4.1, Table 3).
LSTMS = (
    LSTMConfig("LSTM(525-512-6)", layers=((512, 800),)),
    LSTMConfig("LSTM(525-1024-6)", layers=((1024, 1500),)),
    LSTMConfig("LSTM(525-512-512-6)", layers=((512, 800), (512, 800))),
    LSTMConfig("LSTM(525-1024-1024-6)", layers=((1024, 1500), (1024, 1500))),
)


@dataclass(frozen=True)
class Settings:
    """Everything a table of this paper needs; tests replace parts with tiny versions.

    Attributes:
        scattering: frame features.
        dnns, lstms: the trained models.
        segment: segment features and SVM.
        train_subsets, test_subsets: paper Sec. 3.1 / Table 1: train on ISMIR 2004 ``training``,
            test on ``development``.
        validation_fraction: share of the training tracks held out as Kaldi's cross-validation set
            for the newbob schedule (Kaldi recipes hold out 10 %; the paper names no validation
            set). Stratified by genre. Never the test subset.
        seed: split seed and base seed of weight initialisation (choice).
    """

    scattering: ScatteringConfig = SCATTERING
    dnns: tuple = DNNS
    lstms: tuple = LSTMS
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    train_subsets: tuple = ("training",)
    test_subsets: tuple = ("development",)
    validation_fraction: float = 0.1
    seed: int = 2016
