"""Keras builders of Table 1's trained rows: FCN-5 (Sec. 2.1, Fig. 1) and MsE-CNN (Sec. 2.2, Fig. 2).

FCN-5 is :func:`common.fcn.build_fcn` (Choi et al. 2016). MsE-CNN keeps FCN-5's five blocks and
adds a multi-scale connection at every level (Sec. 2.2: "we preserve the features before passing
them through a convolutional layer, then concatenate them with results of the convolution by
passing them through a max pooling operation"):

    x_0 = input (after the per-band input batch norm), 1 channel
    x_k = concat[ maxpool_k(x_{k-1}),  maxpool_k(ELU(BN(conv_k(x_{k-1})))) ]     k = 1..5

where ``maxpool_k`` is block ``k``'s pool, so the block input is pooled to exactly the block
output's size. Each conv therefore sees every earlier level's features, and the sigmoid layer
sees ``1 + 128 + 256 + 512 + 1024 + 2048 = 3969`` features of all scales instead of FCN-5's 2048.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from common.fcn import FCNConfig, build_fcn, conv_block, input_frontend, tagging_head
from common.errors import ConfigError
from papers.msecnn.config import MODEL, MODEL_NAMES, N_TAGS


def multiscale_block(x, filters: int, pool: tuple[int, int], *, kernel_size=(3, 3), activation: str = "elu",
                     name: str = "block"):
    """An MsE-CNN level: the FCN block's output concatenated with its max-pooled input.

    Args:
        x: tensor ``(B, H, W, C)``.
        filters: conv filters ``F``.
        pool: the block's max-pool ``(freq, time)``, applied to both paths.
        kernel_size: conv kernel.
        activation: activation of the FCN block.
        name: layer-name prefix.

    Returns:
        tensor ``(B, H // pool[0], W // pool[1], C + F)``: channels ``[:C]`` are ``maxpool(x)``,
        channels ``[C:]`` the block output.
    """
    y = conv_block(x, filters, pool, kernel_size=kernel_size, activation=activation, name=name)
    skip = layers.MaxPooling2D(pool, name=f"{name}_skip_pool")(x)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([skip, y])


def build_msecnn(n_tags: int = N_TAGS, config: FCNConfig = MODEL) -> keras.Model:
    """Build MsE-CNN (Sec. 2.2, Fig. 2) as an uncompiled Keras model.

    Args:
        n_tags: sigmoid outputs (50).
        config: the underlying FCN's shape (default: FCN-5 on 96 x 1366).

    Returns:
        model mapping float32 ``(B, n_mels, n_frames)`` to tag probabilities float32
        ``(B, n_tags)``; 45 965 796 parameters with the defaults and 50 tags (:func:`msecnn_parameter_count`).
    """
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="melgram")
    x = input_frontend(spectrogram, config)
    for i, (filters, pool) in enumerate(zip(config.filters, config.pools), start=1):
        x = multiscale_block(x, filters, pool, kernel_size=config.kernel_size, activation=config.activation,
                             name=f"block{i}")
    probabilities = tagging_head(x, n_tags, config.dropout)
    return keras.Model(spectrogram, probabilities, name="MsECNN")


def msecnn_channels(config: FCNConfig) -> tuple[int, ...]:
    """Channels of each level's output ``x_k``: ``1 + F_1 + ... + F_k`` (k = 1..depth)."""
    channels, out = 1, []
    for filters in config.filters:
        channels += filters
        out.append(channels)
    return tuple(out)


def msecnn_parameter_count(n_tags: int, config: FCNConfig) -> int:
    """Closed-form parameter count of :func:`build_msecnn`.

    Returns:
        ``sum_k (k_f*k_t*C_{k-1} + 1) * F_k`` (conv k sees ``C_{k-1} = 1 + F_1 + ... + F_{k-1}``
        channels) ``+ 4 * sum_k F_k`` (batch norms) ``+ 4 * n_mels`` (input batch norm, if used)
        ``+ (H * W * C_depth + 1) * n_tags`` (sigmoid layer).
    """
    kernel = math.prod(config.kernel_size)
    inputs = (1, *msecnn_channels(config)[:-1])
    conv = sum((kernel * c + 1) * f for c, f in zip(inputs, config.filters))
    batchnorm = 4 * sum(config.filters) + (4 * config.n_mels if config.input_batchnorm else 0)
    height, width = config.output_size()
    return conv + batchnorm + (height * width * msecnn_channels(config)[-1] + 1) * n_tags


def build_model(name: str, n_tags: int = N_TAGS, config: FCNConfig = MODEL) -> keras.Model:
    """Build a trained row of Table 1 by name.

    Args:
        name: ``"MsE-CNN"`` or ``"FCN-5"``.
        n_tags: sigmoid outputs.
        config: the FCN shape (full size by default; tests pass small filter counts).

    Returns:
        uncompiled model ``(B, n_mels, n_frames) -> (B, n_tags)``.

    Raises:
        ConfigError: unknown name.
    """
    if name == "MsE-CNN":
        return build_msecnn(n_tags, config)
    if name == "FCN-5":
        return build_fcn(n_tags, config, name="FCN5")
    raise ConfigError(f"unknown MsE-CNN Table 1 model {name!r}; use one of {MODEL_NAMES}")
