"""CRNN-TF settings (Wang et al. 2018) and those of its baselines: the papers' values, and every
choice they leave open.

Each setting says where it comes from: ``paper`` (section / table) or ``choice`` with the reason.
``papers/crnn_tf/README.md`` lists every choice and deviation in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.models.fcn import FCN4_FILTERS, FCN4_POOLS, FCNConfig
from common.features.logmel import LogMelConfig
from common.training.trainer import TrainingConfig
from common.audio.waveform import WaveformConfig
from papers.crnn_tf.layers import DIRECTIONS

# --- preprocessing (Sec. III-A, "as in [9]", Choi et al. 2017) -------------------------------------

#: paper Sec. III-A: 12 kHz, 512-point FFT, hop 256, 96 mel bands, log amplitude.
#: choice: Hann window (librosa's default, which Choi et al.'s code uses); mel power in dB,
#: 10 log10(max(S, 1e-10)) without top_db clipping (Choi et al.'s code squares librosa's power mel
#: and clips at 80 dB below the maximum: a factor 2 in scale and a floor, both absorbed by the batch
#: normalisation after the first convolution).
FEATURES = LogMelConfig(sample_rate=12000, n_fft=512, hop_length=256, window="hann", n_mels=96,
                        fmin=0.0, fmax=None, power=2.0, log="db")

#: paper Sec. III-A: "trim the audio signal of each song into 29 seconds".
CLIP_SECONDS = 29.0

#: 1 + 348000 // 256 = 1360 frames for 29 s at 12 kHz (centred STFT): the paper's 96 x 1360.
CLIP_FRAMES = FEATURES.n_frames(int(CLIP_SECONDS * FEATURES.sample_rate))

#: choice: the first 29 s are kept (MTAT clips last 29.1 s, FMA and GTZAN 30 s: the choice of
#: window barely matters); a shorter clip is padded at the end with the spectrogram's floor
#: (10 log10(1e-10) = -100 dB, what digital silence gives); a clip shorter than MIN_SECONDS is
#: skipped (recorded in the manifest) rather than being mostly padding.
PAD_DB = -100.0
MIN_SECONDS = 10.0


# --- CRNN-TF (Sec. III-B to III-D, Sec. IV, Sec. V-C) -------------------------------------------

@dataclass(frozen=True)
class CRNNTFConfig:
    """CRNN-TF architecture.

    Attributes:
        n_mels, n_frames: input size (paper: 96 x 1360).
        conv_filters: paper Sec. III-B: 64, 128, 128, 128.
        kernel: paper: 3 x 3.
        pool: paper: 2 x 4 (frequency x time) after every conv layer.
        conv_padding: choice: ``"same"`` (the paper does not say; Choi et al.'s CRNN uses it).
        pool_padding: choice: ``"same"``: it gives the paper's 6 x 6 x 128 map (96 -> 48 -> 24 ->
            12 -> 6 bands; 1360 -> 340 -> 85 -> 22 -> 6 frames); ``"valid"`` pooling (Keras'
            default) gives 6 x 5 (85 -> 21 -> 5).
        activation: paper Sec. V-C: ELU, alpha 1.
        batch_norm: paper Sec. V-C: after every conv layer (before the ELU, as in [9]'s code).
        directions: the scanners fed to recurrent blocks (paper: all eight; Fig. 5: subsets).
        sequence_reading: how a scan becomes a sequence (:data:`papers.crnn_tf.layers.READINGS`).
            choice: ``"raster"``, one map position per step (36 steps of 128 values on the 6 x 6 x 128
            map): the paper's Fig. 3 scans positions one by one and says no more.
            ``"whole_row"``: one whole row / column per step (6 steps of 768), the reading of the
            authors' notebook (``1.ipynb`` cell 11 L74-103: ``Reshape((6, 128*6))``;
            :data:`GRU_ROW_CHANGES`).
        rnn: ``"grid_lstm"`` (paper Sec. III-C) or ``"gru"`` (one Keras GRU per scanner; the
            ``CRNN-TF (GRU)`` row, not a row of the paper).
        gru_reset_after: the Keras GRU's ``reset_after`` (``rnn="gru"`` only). True: Keras 3's
            default (reset gate applied after the recurrent matrix product, two bias vectors);
            False: Keras 2's default, which the authors' notebook ran (``1.ipynb`` cell 11 output:
            76,896 parameters per GRU(32) on 768 inputs = 3 x (768 x 32 + 32 x 32 + 32)).
        rnn_units: paper: 32 per block.
        grid_depth: choice: 1 grid block along depth (the paper gives no depth).
        grid_output_form: choice: ``"grid"`` = Kalchbrenner et al.'s Eq. (1) (see layers.py).
        dropout: paper Sec. IV: 0.5 on the concatenated 256-vector.
        hidden_units: ELU units of a dense layer between the dropout and the output layer; 0 (the
            paper, Sec. III-D: "a linear transformation layer and a softmax layer"): none.
        output_l2: whether the output layer's weights carry the L2 penalty (paper Sec. IV: yes;
            the authors' notebook: no, ``1.ipynb`` cell 11 L139 ``Dense(50, activation='sigmoid')``).
        l2: paper Sec. V-C: lambda_1 = lambda_2 = lambda_3 = 1e-6.
        l2_scope: ``"all"`` (paper Sec. IV objective: weights *and* biases of the CNN, the RNN and
            the output layer; every Keras kernel, recurrent kernel and bias) or ``"kernels"`` (the
            ``kernel`` of every conv, recurrent and dense layer only: no bias, no GRU recurrent
            kernel; our reading of "L2 on kernels only", :data:`GRU_ROW_CHANGES`).
    """

    n_mels: int = 96
    n_frames: int = CLIP_FRAMES
    conv_filters: tuple = (64, 128, 128, 128)
    kernel: tuple = (3, 3)
    pool: tuple = (2, 4)
    conv_padding: str = "same"
    pool_padding: str = "same"
    activation: str = "elu"
    batch_norm: bool = True
    directions: tuple = DIRECTIONS
    sequence_reading: str = "raster"
    rnn: str = "grid_lstm"
    gru_reset_after: bool = True
    rnn_units: int = 32
    grid_depth: int = 1
    grid_output_form: str = "grid"
    dropout: float = 0.5
    hidden_units: int = 0
    output_l2: bool = True
    l2: float = 1e-6
    l2_scope: str = "all"


#: The ``CRNN-TF (GRU)`` row of Tables I and II (not a row of the paper): the changes to
#: :class:`CRNNTFConfig` that give the model of the authors' released notebook, read line by line
#: (``FishInMedi/CRNN-TF`` ``1.ipynb`` cell 11, MTAT): one ``GRU(32)`` per scanner (L74-103) reading the
#: 6 x 6 x 128 map as 6 steps of 768 values (``Reshape((6, 128*6))``, whole rows or, after
#: ``permute_dimensions((0, 2, 1, 3))``, whole columns), in the scanner order Ar, Ac, Br, Bc, Cr, Cc,
#: Dr, Dc (the flips ``K.reverse`` axes 2 / 1 of L81-101); Keras 2's GRU (``reset_after=False``:
#: 1,006,322 parameters for 50 tags, the cell's printed summary); Dropout 0.5 on the concatenation
#: (L137), ``Dense(64, activation='elu')`` (L138), output without any penalty (L139); L2 1e-7 (L52)
#: on the convolution kernels (L54-69), the GRU input kernels (``kernel_regularizer`` only: no
#: recurrent kernel, no bias) and the Dense(64) kernel (``l2_scope="kernels"``, ``output_l2=False``).
GRU_ROW_CHANGES = {"rnn": "gru", "sequence_reading": "whole_row", "hidden_units": 64, "l2": 1e-7,
                   "l2_scope": "kernels", "gru_reset_after": False, "output_l2": False}

#: The authors' FMA run of the same model (``1.ipynb`` cell 16): no L2 at all (L14-68 pass no
#: regulariser), otherwise as :data:`GRU_ROW_CHANGES` (1,004,112 parameters for 16 genres, the cell's
#: summary). Applied on top of :data:`GRU_ROW_CHANGES` in Table II's ``CRNN-TF (GRU)`` row.
GRU_ROW_FMA_CHANGES = {"l2": 0.0}

#: paper Sec. V-C: Adam (defaults), learning rate 0.001 decayed by 0.9 each epoch, batch 32.
#: choice: at most 100 epochs, early stopping with patience 10 on the validation loss and the best
#: validation checkpoint kept (the paper gives no epoch count; after 50 epochs the decayed learning
#: rate is 5e-6, so later epochs change little). Model selection uses the validation split only.
TRAINING = TrainingConfig(optimizer="adam", learning_rate=0.001, batch_size=32, epochs=100, patience=10,
                          lr_decay_per_epoch=0.9)

#: The ``CRNN-TF (GRU)`` row's training, the authors' notebook's: ``Adam()`` (Keras defaults:
#: learning rate 0.001, no decay; ``1.ipynb`` cell 11 L143), batch 32 (Keras' default: ``fit`` gets no
#: ``batch_size``, L206), 50 epochs (L49) with no early stopping (``ModelCheckpoint`` without
#: ``save_best_only``, L146: a file per epoch). choice: the kept checkpoint is the epoch with the
#: lowest validation loss (our model selection; the notebook has no rule other than the test maxima).
GRU_ROW_TRAINING = TrainingConfig(optimizer="adam", learning_rate=0.001, batch_size=32, epochs=50, patience=0,
                                  lr_decay_per_epoch=1.0)

#: Table II's ``CRNN-TF (GRU)`` row: the authors' FMA run trains 40 epochs (``1.ipynb`` cell 16 L10), no
#: validation data (L178; here the validation split still chooses the kept checkpoint).
GRU_ROW_FMA_TRAINING = TrainingConfig(optimizer="adam", learning_rate=0.001, batch_size=32, epochs=40, patience=0,
                                      lr_decay_per_epoch=1.0)

#: Fig. 5: the subsets of scanners compared on MTAT (X_r, X_c, X_rc for X in A-D; ABCD_r, ABCD_c;
#: all eight).
FIG5_SUBSETS = {
    **{d: (d,) for d in DIRECTIONS},
    **{f"{v}rc": (f"{v}r", f"{v}c") for v in "ABCD"},
    "ABCDr": ("Ar", "Br", "Cr", "Dr"),
    "ABCDc": ("Ac", "Bc", "Cc", "Dc"),
    "ABCDrc": DIRECTIONS,
}

#: Fig. 5 as the authors ran it (``2.ipynb`` cells 1-15; the bars' values in ``Reseach_1_plot.ipynb``
#: cell 0): the GRU model (:data:`GRU_ROW_CHANGES`, Dense(64, ELU) included) without any L2 (no
#: regulariser in ``2.ipynb``), dropout on the concatenation by number of scanners (1: 0.1, cells 2-9
#: L37-40; 2: 0.2, cells 10-13 L42-45; 4: 0.3, cells 14-15 L50-53; 8: 0.5, cell 1 L66), ``Adam()``
#: without decay, 35 epochs (50 for all eight, cell 1 L10), no validation data (``fit`` without it,
#: e.g. cell 2 L76; here the validation split still chooses the kept checkpoint). The single-GRU
#: model has 453,714 parameters, two 532,658, four 690,546, eight 1,006,322 (the cells' summaries).
FIG5_AUTHORS_CHANGES = {**GRU_ROW_CHANGES, "l2": 0.0}
FIG5_AUTHORS_DROPOUT = {1: 0.1, 2: 0.2, 4: 0.3, 8: 0.5}
FIG5_AUTHORS_EPOCHS = {1: 35, 2: 35, 4: 35, 8: 50}


# --- baselines (Sec. V-B) -----------------------------------------------------------------------

#: FCN baseline [10] (Choi, Fazekas & Sandler 2016), their MagnaTagATune model FCN-4 (Table 1 of
#: [10]: 128, 384, 768, 2048 filters of 3 x 3, max-pools (2,4) (4,5) (3,8) (4,8) -> 1 x 1 x 2048; the
#: AUC the CRNN-TF paper quotes, 0.894, is FCN-4's in [10]), on the same 96 x 1360 log-mel as
#: CRNN-TF (time 1360 -> 340 -> 68 -> 8 -> 1). paper Sec. V-E: "dropout of 0.5 is added after every
#: max-pooling layer" (block_dropout). choice: input batch normalisation per mel band (the
#: ``bn_0_freq`` layer of [10]'s released code), no weight penalty (none in [10]).
FCN = FCNConfig(n_mels=96, n_frames=CLIP_FRAMES, filters=FCN4_FILTERS, pools=FCN4_POOLS, kernel_size=(3, 3),
                activation="elu", input_batchnorm=True, dropout=0.0, block_dropout=0.5)

@dataclass(frozen=True)
class CRNNConfig:
    """CRNN of Choi, Fazekas, Sandler & Cho (ICASSP 2017), as in their released Keras code
    (``music_tagger_crnn.py``, the ~0.4 M-parameter configuration).

    Attributes:
        n_mels, n_frames: input (the same log-mel as CRNN-TF: the paper's preprocessing is [9]'s).
        pad_to: the released code zero-pads the time axis to 1440 frames so that the pools give a
            1 x 15 map (1366 + 2 x 37); with 1360 frames we pad 40 per side to the same 1440.
        input_batch_norm: the code's ``bn_0_freq`` input batch normalisation, per mel band.
        conv_filters, pools: code: 64, 128, 128, 128 filters of 3 x 3 ('same'), max-pools (2,2),
            (3,3), (4,4), (4,4); BN + ELU after every conv; dropout 0.1 after every pool.
        gru_units: code: two stacked GRUs of 32 units, the second returning its last output.
        dropout: code: 0.3 before the output layer.
        l2: 0: the released code does not regularise the weights (and the CRNN-TF paper says
            unspecified settings were left to Keras' defaults, i.e. none).
        activation: code: ELU after every batch normalisation.
        pool_padding: Keras' default ``"valid"`` (the code pads the input to 1440 instead).
        gru_reset_after: Keras 3's default True; the code ran Keras 1/2 GRUs (False, one bias vector).
    """

    n_mels: int = 96
    n_frames: int = CLIP_FRAMES
    pad_to: int = 1440
    input_batch_norm: bool = True
    conv_filters: tuple = (64, 128, 128, 128)
    pools: tuple = ((2, 2), (3, 3), (4, 4), (4, 4))
    conv_dropout: float = 0.1
    gru_units: tuple = (32, 32)
    dropout: float = 0.3
    l2: float = 0.0
    activation: str = "elu"
    pool_padding: str = "valid"
    gru_reset_after: bool = True


#: Timbre CNN input: the "Dieleman setup" of Pons et al.'s released code (EUSIPCO2017,
#: spectrograms.py): 16 kHz, 512-point FFT, hop 256, 128 mel bands; log compression log(1 + C x)
#: with C = 10,000 (patches.py: "logC", log10(10000 x + 1)), here ln(x + 1/C) = ln(1 + C x) - ln C:
#: the constant and the log base (a factor) are removed by the element-wise standardisation that
#: follows (patches.py: "element_wise" normalisation).
TIMBRE_FEATURES = LogMelConfig(sample_rate=16000, n_fft=512, hop_length=256, window="hann", n_mels=128,
                               fmin=0.0, fmax=None, power=2.0, log="log", log_offset=1e-4)


#: The first layer of Pons et al.'s released ``proposed`` model (EUSIPCO2017
#: ``src/build_architecture.py``, read here): ``(time_extent, frequency_extent, n_filters)``, time
#: extents 1, 3, 5, 7 x frequency extents 100, 75, 25 of 128 mel bands; 92 channels.
PONS_CODE_FILTERS = ((1, 100, 10), (3, 100, 6), (5, 100, 3), (7, 100, 3),
                     (1, 75, 15), (3, 75, 10), (5, 75, 5), (7, 75, 5),
                     (1, 25, 15), (3, 25, 10), (5, 25, 5), (7, 25, 5))


@dataclass(frozen=True)
class TimbreCNNConfig:
    """Timbre CNN of Pons, Slizovskaia, Gong, Gómez & Serra (EUSIPCO 2017), music auto-tagging
    model ("proposed" in their released ``build_architecture.py``).

    Attributes:
        n_mels: input bands (code: 128).
        patch_frames: code: patches of 187 frames (3 s at 16 kHz, hop 256).
        filters: ``(time_extent, frequency_extent, n_filters)`` of the first layer's parallel
            branches. paper (CRNN-TF Sec. V-B, describing its Timbre CNN baseline): frequency
            extents "selected from {25, 50, 5, 100}", time extents "from {1, 3, 5, 7}": every
            combination, 16 branches. choice (neither paper gives counts for this set): the counts
            of Pons et al.'s code for the nearest extent it has (100 -> 10/6/3/3; 50 -> its 75's
            15/10/5/5; 25 -> 15/10/5/5; 5 -> its 25's 15/10/5/5 for time extents 1/3/5/7), x width;
            127 channels. Pons et al.'s released model itself (100/75/25 bands, 92 channels) is
            :data:`PONS_CODE_FILTERS`. Every branch is max-pooled by 4 in time and over its whole
            frequency range.
        width: multiplier of every filter count (code: ``proposed`` 1, ``proposed2`` 2,
            ``proposed4`` 4). choice: 1 (the paper's model; which width gave the AUC the CRNN-TF
            paper quotes is not stated).
        conv2_filters, conv2_time: second layer: 32 x width filters spanning 8 frames and all
            first-layer channels, then max-pool 4 in time (code).
        dense_units: 100 ELU units, dropout 0.5 before it and before the output (code).
        l2: code: weight decay 1e-5 on all parameters (train.py).
    """

    n_mels: int = 128
    patch_frames: int = 187
    filters: tuple = ((1, 100, 10), (3, 100, 6), (5, 100, 3), (7, 100, 3),
                      (1, 50, 15), (3, 50, 10), (5, 50, 5), (7, 50, 5),
                      (1, 25, 15), (3, 25, 10), (5, 25, 5), (7, 25, 5),
                      (1, 5, 15), (3, 5, 10), (5, 5, 5), (7, 5, 5))
    width: int = 1
    conv2_filters: int = 32
    conv2_time: int = 8
    pool_time: int = 4
    dense_units: int = 100
    dropout: float = 0.5
    l2: float = 1e-5


#: End-to-end input: raw audio at 16 kHz (MTAT's own rate, Dieleman & Schrauwen Sec. 3), first 29 s.
END_TO_END_AUDIO = WaveformConfig(sample_rate=16000, max_seconds=CLIP_SECONDS, min_seconds=MIN_SECONDS)


@dataclass(frozen=True)
class EndToEndConfig:
    """End-to-end raw-audio model of Dieleman & Schrauwen (ICASSP 2014), its best raw-audio setting.

    Attributes:
        window_samples: input windows of 3 s at 16 kHz (the setup Pons et al.'s code calls the
            "Dieleman setup": 187 frames of 256 samples); a clip is scored by averaging its windows.
        frontend_filters, frontend_length, frontend_stride: the strided convolution replacing the
            spectrogram: filter length = stride = 256 samples (the paper's best raw-audio setting).
            choice: 128 filters, as many as the 128 mel bands of the spectrogram setting it replaces
            (we could not check the paper's number here).
        conv_filters, conv_length, pool: two conv layers of 32 filters of length 8, each followed by
            max-pooling 4 (paper).
        dense_units: 100 hidden units before the output (paper).
        activation: ReLU (paper: rectified linear units).
        l2: choice: 0 (not stated).
    """

    window_samples: int = 48000
    frontend_filters: int = 128
    frontend_length: int = 256
    frontend_stride: int = 256
    conv_filters: int = 32
    conv_length: int = 8
    pool: int = 4
    dense_units: int = 100
    activation: str = "relu"
    l2: float = 0.0


# --- the baselines as the CRNN-TF authors ran them (``1.ipynb``; not the cited papers' code) ------
#
# The rows of Tables I and II follow the cited papers' released code (above), as the CRNN-TF text
# says ("exact configurations of the references"). The authors' notebook ran other networks under
# those names; each is offered here as a named configuration (``Settings.baselines = "authors"``
# puts them in the tables), with its parameter count checked against the notebook's printed summary.

#: FCN as ``1.ipynb`` cell 3 builds it (MTAT; cell 13 for FMA): ReLU, no input batch normalisation,
#: 'same' padding everywhere, conv 128/384/768/2048 (the last with stride 3, L31), max-pools (2,4),
#: (4,5) stride (2,4), (3,8) stride (2,4), (4,8) stride (4,8) (L16-34), dropout 0.5 after every pool,
#: no penalty; batch 16, 30 epochs (L9, L106). 17,372,594 parameters for 50 tags, 17,302,928 for 16.
@dataclass(frozen=True)
class AuthorsFCNConfig:
    """FCN of the CRNN-TF authors' notebook (``1.ipynb`` cell 3 L9-43).

    Attributes:
        n_mels, n_frames: input (96 x 1360).
        filters, conv_strides: per block (L13, L19, L25, L31).
        pools, pool_strides: per block (L16, L22, L28, L34), 'same' padding.
        dropout: after every pool (L17-35).
    """

    n_mels: int = 96
    n_frames: int = CLIP_FRAMES
    filters: tuple = (128, 384, 768, 2048)
    conv_strides: tuple = ((1, 1), (1, 1), (1, 1), (3, 3))
    pools: tuple = ((2, 4), (4, 5), (3, 8), (4, 8))
    pool_strides: tuple = ((2, 4), (2, 4), (2, 4), (4, 8))
    dropout: float = 0.5


#: CRNN as ``1.ipynb`` cell 9 builds it (MTAT; cell 19 for FMA): ReLU (L15-30), no input batch
#: normalisation, no padding to 1440 frames, 'same' max-pools (2,2) (3,3) (4,4) (4,4) giving 1 x 15 x 128
#: (L16-32), no dropout after the pools, Keras 2 GRUs (``reset_after=False``), dropout 0.3, no penalty;
#: 50 epochs (L9). 394,802 parameters for 50 tags, 393,680 for 16.
CRNN_AUTHORS_CHANGES = {"pad_to": 0, "input_batch_norm": False, "conv_dropout": 0.0, "activation": "relu",
                        "pool_padding": "same", "gru_reset_after": False}


@dataclass(frozen=True)
class AuthorsTimbreCNNConfig:
    """"Timbre CNN" of the CRNN-TF authors' notebook (``1.ipynb`` cell 5 L9-78; cell 15 for FMA).

    On the whole 96 x 1360 clip (not 3 s patches of a 128-band spectrogram): twelve parallel
    ``Conv2D(n, (f, t), padding='same')`` + BN + ReLU + ``MaxPooling2D((4, 4), padding='same')``
    branches, frequency extents 96 / 75 / 25 and time extents 1 / 3 / 5 / 7 (84 channels, L14-64),
    ``Conv2D(32, (8, 8), padding='same')`` + BN + ReLU + max-pool (4, 4) (L66-69), Flatten, Dropout 0.5,
    ``Dense(100, relu)``, output (L71-74); no penalty; 30 epochs (L9). 1,823,706 parameters for 50
    tags, 1,820,272 for 16.

    Attributes:
        filters: ``(frequency_extent, time_extent, n_filters)`` per branch, in the cell's order.
    """

    n_mels: int = 96
    n_frames: int = CLIP_FRAMES
    filters: tuple = ((96, 1, 10), (96, 3, 6), (96, 5, 3), (96, 7, 3),
                      (75, 1, 15), (75, 3, 6), (75, 5, 3), (75, 7, 3),
                      (25, 1, 15), (25, 3, 10), (25, 5, 5), (25, 7, 5))
    pool: tuple = (4, 4)
    conv2_filters: int = 32
    conv2_kernel: tuple = (8, 8)
    dropout: float = 0.5
    dense_units: int = 100


@dataclass(frozen=True)
class AuthorsEndToEndConfig:
    """"End-to-end" of the CRNN-TF authors' notebook (``1.ipynb`` cell 7 L9-26; cell 18 for FMA).

    On the 96 x 1360 mel-spectrogram (not raw audio): two blocks ``Conv2D(32, (8, 8), padding='same')``
    + BN + ReLU + ``MaxPooling2D((4, 4), padding='same')``, Flatten, Dropout 0.5, ``Dense(100, relu)``,
    output; no penalty; 30 epochs. 1,705,054 parameters for 50 tags, 1,701,620 for 16.
    """

    n_mels: int = 96
    n_frames: int = CLIP_FRAMES
    conv_filters: tuple = (32, 32)
    conv_kernel: tuple = (8, 8)
    pool: tuple = (4, 4)
    dropout: float = 0.5
    dense_units: int = 100


#: Baselines and CRNN-TF share the training protocol (choice: the CRNN-TF paper trains its own
#: implementations of all methods and says unspecified settings were left to Keras; one protocol
#: keeps the comparison about the architectures).
BASELINE_TRAINING = TRAINING


# --- MFCC + SVM (Table III, [16] Choi et al. 2017, "Transfer learning for music classification") --

@dataclass(frozen=True)
class MFCCSVMConfig:
    """MFCC + SVM baseline.

    Attributes:
        n_mfcc: 20 MFCCs (choice following [16]'s baseline), computed as the DCT of the same
            96-band log-mel spectrogram the networks see (``librosa.feature.mfcc(S=...)``).
        deltas: with first and second derivatives (librosa ``delta``).
        C_grid: RBF-SVM regularisation values tried; the one with the best validation accuracy is
            refit on training + validation tracks; ties go to the smaller C (choice: the paper does
            not say).
    """

    n_mfcc: int = 20
    deltas: bool = True
    C_grid: tuple = (0.1, 1.0, 10.0, 100.0)


#: Split seed of Table III's cross-validation (choice) and base seed of initialisation and shuffling.
SEED = 2018
