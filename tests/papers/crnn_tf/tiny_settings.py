"""Tiny CRNN-TF table settings for end-to-end tests (small spectrograms, models and epochs)."""

from dataclasses import replace

from common.models.fcn import FCNConfig
from common.features.logmel import LogMelConfig
from common.training.trainer import TrainingConfig
from common.audio.waveform import WaveformConfig
from papers.crnn_tf import config as cfg
from papers.crnn_tf.tables import Settings

FEATURES = LogMelConfig(sample_rate=8000, n_fft=256, hop_length=128, window="hann", n_mels=16)
CLIP_FRAMES = 48  # 0.77 s at 8 kHz, hop 128


def tiny_settings(**changes) -> Settings:
    """Settings with every model a few thousand parameters and 2 epochs at most."""
    settings = Settings(
        features=FEATURES, clip_frames=CLIP_FRAMES, min_seconds=0.25,
        crnn_tf=cfg.CRNNTFConfig(conv_filters=(4, 6), rnn_units=4),
        fcn=FCNConfig(filters=(4, 6), pools=((2, 4), (2, 4)), block_dropout=0.5),
        crnn=cfg.CRNNConfig(pad_to=0, conv_filters=(4, 4), pools=((2, 2), (2, 2)), gru_units=(4, 4)),
        timbre=cfg.TimbreCNNConfig(n_mels=20, patch_frames=16, filters=((1, 16, 2), (3, 5, 2)), conv2_filters=4,
                                   conv2_time=2, pool_time=2, dense_units=6),
        timbre_features=LogMelConfig(sample_rate=8000, n_fft=256, hop_length=128, window="hann", n_mels=20,
                                     log="log", log_offset=1e-4),
        end_to_end=cfg.EndToEndConfig(window_samples=2048, frontend_filters=8, frontend_length=16,
                                      frontend_stride=16, conv_filters=4, conv_length=4, dense_units=6),
        end_to_end_audio=WaveformConfig(sample_rate=8000, max_seconds=cfg.CLIP_SECONDS, min_seconds=0.25),
        training=TrainingConfig(optimizer="adam", learning_rate=0.01, batch_size=8, epochs=2, patience=2,
                                lr_decay_per_epoch=0.9),
        gru_training=TrainingConfig(optimizer="adam", learning_rate=0.01, batch_size=8, epochs=2, patience=0),
        gru_fma_training=TrainingConfig(optimizer="adam", learning_rate=0.01, batch_size=8, epochs=2, patience=0))
    return replace(settings, **changes)
