"""MsE-CNN settings (Multi-scale Embedded CNN for music tagging): the paper's values, and every
choice it leaves open.

The paper (Sec. 2-3) gives the architecture (FCN-5 of Choi et al. 2016 plus multi-scale
connections), the dataset (MagnaTagATune) and the metrics (ROC-AUC, PR-AUC), and nothing about
features, tags, split or training; those follow Choi et al. 2016 ("paper [FCN]") where it says,
and are marked ``choice`` with the reason where nobody says. ``papers/msecnn/README.md`` lists
every choice and deviation in one place.
"""

from __future__ import annotations

from common.models.fcn import FCN5_FILTERS, FCN5_POOLS, FCNConfig
from common.features.logmel import LogMelConfig
from common.features.clip_melgram import ClipMelgramConfig
from common.training.trainer import TrainingConfig

#: paper Sec. 2.1: input 96 x 1366 x 1 mel-spectrogram; paper [FCN] Sec. 3 / its code: 12 kHz,
#: 512-point FFT (Hann), hop 256, 96 mel bands, log amplitude of melgram**2 (ref 1, amin 1e-10,
#: top_db 80), clips fixed to 29.12 s (centre crop / zero pad) -> 1366 frames.
#: choice: clips shorter than 28 s are refused (bad-input policy: recorded and skipped) instead
#: of being zero-padded by more than 1.1 s; MTAT clips are ~29.1 s, so only broken files are hit.
FEATURES = ClipMelgramConfig(
    logmel=LogMelConfig(sample_rate=12000, n_fft=512, hop_length=256, window="hann", n_mels=96,
                        fmin=0.0, fmax=None, power=2.0, log="db", amin=1e-5),
    db_scale=2.0, top_db=80.0, clip_seconds=29.12, min_seconds=28.0)

#: paper Sec. 3 / paper [FCN] Sec. 4.1: the 50 most frequent MagnaTagATune tags.
N_TAGS = 50

#: paper Sec. 2.1, Fig. 1 / paper [FCN] Table 2: FCN-5, 3x3 convs with 128, 256, 512, 1024, 2048
#: filters, batch norm, ELU, max-pools (2,4), (2,4), (2,4), (3,5), (4,4); sigmoid output.
#: (The authors' MsE_CNN_model.py uses 64, 128, 256, 512, 1024 filters; we keep FCN-5's widths,
#: since the paper builds on FCN-5 and reports an "FCN-5 (reproduced)" row; see the README.)
#: Batch normalisation of the input per mel band, as the authors' MsE_CNN_model.py ("bn_0_freq",
#: axis 1 of a 96 x 1366 x 1 input); the paper does not mention input normalisation. No dropout
#: (neither the papers nor the authors' model file have any).
MODEL = FCNConfig(n_mels=96, n_frames=1366, filters=FCN5_FILTERS, pools=FCN5_POOLS, kernel_size=(3, 3),
                  activation="elu", input_batchnorm=True, dropout=0.0)

#: paper [FCN] Sec. 3: binary cross-entropy, Adam; the MsE-CNN paper is silent. The authors'
#: Training/train.py (github.com/nimahamidi/Music-tagging-with-MsE-CNN) decides the rest: Adam with
#: learning rate 1e-4, batch 32 clips, 50 epochs, no early stopping (patience 0: all 50 epochs run).
#: choice: the checkpoint evaluated on the test split is the epoch with the lowest validation loss
#: (their script keeps the last epoch, and its "validation" data is the training split).
#: choice: mixed precision and XLA "auto" (on when a GPU is present, off on a CPU); override with
#: --mixed-precision / --xla.
TRAINING = TrainingConfig(optimizer="adam", learning_rate=1e-4, batch_size=32, epochs=50, patience=0,
                          monitor="val_loss", mixed_precision="auto", jit_compile="auto")

#: choice: the split's spectrograms are stored for training as float16 memory maps (half the
#: bytes of float32; < 0.03 dB rounding on values up to 64 dB). "float32" is exact.
STORE_DTYPE = "float16"

#: The two trained rows of Table 1, in the table's order.
MODEL_NAMES = ("MsE-CNN", "FCN-5")
