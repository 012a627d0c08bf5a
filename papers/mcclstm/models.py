"""Keras builders of the MCCLSTM schemes (Chen & Wang 2017, Fig. 1, Tables 1-2, Sec. 3.2.1).

Chunk models (R0, R2, R3, CNNs-3) take one log-mel chunk ``(M, N) = (40, 80)`` and output class
probabilities for it; a track is classified by averaging its chunks' probabilities
(:func:`common.evaluation.metrics.track_probabilities`). Sequence models (R1, R4, MCCLSTM) take a whole
track, ``{"chunks": (L, M, N), "n_chunks": ()}``, run the chunk encoder on every chunk, and an LSTM
over the resulting descriptor sequence, masked to the track's ``n_chunks`` real chunks; the
softmax reads the LSTM output after the last real chunk.
"""

from __future__ import annotations

import keras
from keras import layers

from common.models.layers import PerStep, SequenceMask
from papers.mcclstm.config import SCHEMES, MCCLSTMConfig, SchemeSpec


def _initializer(config: MCCLSTMConfig, default: str):
    """Initialiser of a CNN or LSTM weight: N(0, init_stddev**2) (paper Sec. 3), or ``default``.

    Only conv and LSTM layers use it: the paper names "all CNN and LSTM layers"; the FC layers and
    the softmax keep Keras' Glorot-uniform default under either setting.
    """
    if config.init_stddev is None:
        return default
    return keras.initializers.RandomNormal(mean=0.0, stddev=config.init_stddev)


def channel_branch(x, channel: str, config: MCCLSTMConfig):
    """One CNN channel of Table 1: a conv layer (valid padding) and a max-pooling layer, flattened.

    Args:
        x: tensor ``(B, M, N, 1)``.
        channel: ``"P"`` (pitch, (32,1) conv, (1,80) pool), ``"T"`` (tempo, (1,60), (40,1)) or
            ``"B"`` (bass, (13,9), (4,4)).
        config: model settings.

    Kernel and pool sizes are (frequency, time), as Table 1 gives them: P (32,1) spans 32 bands and
    1 frame, T (1,60) 1 band and 60 frames. B (13,9) is then 13 bands x 9 frames, although Sec. 2.1
    calls it "wide in time and narrow in frequency (m < n)"; ``config.bass_kernel = (9, 13)``
    (:data:`~papers.mcclstm.config.BASS_KERNEL_TIME_WIDE`) is the other reading (README, "Bass
    channel orientation").

    Returns:
        tensor ``(B, features)``: P 9*1*F, T 1*21*F, B 7*18*F (B (9,13): 8*17*F) for M=40, N=80,
        F filters.

    Raises:
        ValueError: unknown channel.
    """
    kernels = {"P": (config.pitch_kernel, config.pitch_pool), "T": (config.tempo_kernel, config.tempo_pool),
               "B": (config.bass_kernel, config.bass_pool)}
    if channel not in kernels:
        raise ValueError(f"unknown channel {channel!r}; use P, T or B")
    kernel, pool = kernels[channel]
    y = layers.Conv2D(config.channel_filters, kernel, padding="valid", activation=config.activation,
                      kernel_initializer=_initializer(config, "glorot_uniform"), name=f"{channel}_conv")(x)
    y = layers.MaxPooling2D(pool, name=f"{channel}_pool")(y)
    return layers.Flatten(name=f"{channel}_flatten")(y)


def build_chunk_encoder(scheme: SchemeSpec, config: MCCLSTMConfig) -> keras.Model:
    """The per-chunk part of a scheme: chunk ``(B, M, N)`` -> descriptor ``(B, D)``.

    - multi-channel schemes: the channels' outputs concatenated (fusion layer) and a fully
      connected layer of 200 (two channels) or 400 (three channels) units (Sec. 2.2, 3);
    - R0: the T channel's flattened output, used directly (Sec. 3.2.1);
    - CNNs-3: conv (5,5), pool (2,2), conv (3,3), pool (2,2), FC 200 (Sec. 3.2.1);
    - R1: the flattened chunk (``M * N`` values), i.e. the LSTM sees the raw spectrogram chunk.

    Returns:
        a Keras model named ``<scheme>_encoder``.
    """
    chunk = keras.Input((config.n_bands, config.n_frames), name="chunk")
    x = layers.Reshape((config.n_bands, config.n_frames, 1), name="add_channel")(chunk)
    if scheme.name == "CNNs-3":
        for i, (filters, kernel, pool) in enumerate(zip(config.cnn3_filters, config.cnn3_kernels,
                                                        config.cnn3_pools)):
            x = layers.Conv2D(filters, kernel, padding="valid", activation=config.activation,
                              kernel_initializer=_initializer(config, "glorot_uniform"), name=f"conv{i + 1}")(x)
            x = layers.MaxPooling2D(pool, name=f"pool{i + 1}")(x)
        x = layers.Flatten()(x)
        out = layers.Dense(config.cnn3_fc_units, activation=config.activation, kernel_initializer="glorot_uniform",
                           name="fc")(x)
    elif not scheme.channels:
        out = layers.Flatten(name="flatten_chunk")(chunk)
    else:
        branches = [channel_branch(x, c, config) for c in scheme.channels]
        fused = branches[0] if len(branches) == 1 else layers.Concatenate(name="fusion")(branches)
        if len(scheme.channels) == 1:
            out = fused
        else:
            units = config.fc_units_three if len(scheme.channels) == 3 else config.fc_units_two
            out = layers.Dense(units, activation=config.activation, kernel_initializer="glorot_uniform",
                               name="fc")(fused)
    return keras.Model(chunk, out, name=f"{scheme.name.replace('-', '')}_encoder")


def lstm_units(scheme: SchemeSpec, config: MCCLSTMConfig) -> int:
    """LSTM size of a sequence scheme: 100 (two channels), 200 (three), R1: ``lstm_only_units``."""
    if not scheme.channels:
        return config.lstm_only_units
    return config.lstm_units_three if len(scheme.channels) == 3 else config.lstm_units_two


def build_model(scheme: SchemeSpec | str, n_classes: int, config: MCCLSTMConfig | None = None) -> keras.Model:
    """Build one scheme of Table 2 / Sec. 3.2.1 as an uncompiled Keras model.

    Args:
        scheme: a :class:`SchemeSpec` or its name (``"R0"``, ..., ``"MCCLSTM"``, ``"CNNs-3"``).
        n_classes: number of classes of the softmax.
        config: model settings (defaults: :class:`MCCLSTMConfig`).

    Returns:
        chunk schemes: input float32 ``(B, M, N)`` -> probabilities ``(B, n_classes)``;
        sequence schemes: inputs ``{"chunks": float32 (B, L, M, N), "n_chunks": int32 (B,)}`` ->
        probabilities ``(B, n_classes)``.

    Raises:
        KeyError: unknown scheme name.
    """
    config = config or MCCLSTMConfig()
    if isinstance(scheme, str):
        scheme = {s.name: s for s in SCHEMES}[scheme]
    encoder = build_chunk_encoder(scheme, config)
    head_init = "glorot_uniform"  # the softmax is neither a CNN nor an LSTM layer (Sec. 3)
    if not scheme.lstm:
        chunk = keras.Input((config.n_bands, config.n_frames), name="chunk")
        x = encoder(chunk)
        x = layers.Dropout(config.dropout, name="dropout")(x)
        probs = layers.Dense(n_classes, activation="softmax", kernel_initializer=head_init, name="softmax")(x)
        return keras.Model(chunk, probs, name=scheme.name.replace("-", ""))
    chunks = keras.Input((None, config.n_bands, config.n_frames), name="chunks")
    n_chunks = keras.Input((), dtype="int32", name="n_chunks")
    descriptors = PerStep(encoder, name="chunk_encoder")(chunks)
    mask = SequenceMask(name="chunk_mask")(chunks, n_chunks)
    lstm = layers.LSTM(lstm_units(scheme, config), name="lstm",
                       kernel_initializer=_initializer(config, "glorot_uniform"),
                       recurrent_initializer=_initializer(config, "orthogonal"))
    x = lstm(descriptors, mask=mask)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    probs = layers.Dense(n_classes, activation="softmax", kernel_initializer=head_init, name="softmax")(x)
    return keras.Model({"chunks": chunks, "n_chunks": n_chunks}, probs, name=scheme.name.replace("-", ""))
