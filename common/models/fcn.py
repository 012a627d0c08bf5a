"""Fully convolutional tagging network (FCN) of Choi, Fazekas & Sandler (ISMIR 2016), in Keras.

FCN-5 (Choi et al. 2016, Table 1; also MsE-CNN Fig. 1): a log-amplitude mel-spectrogram
``96 x 1366`` goes through five blocks ``3x3 conv ('same') -> batch norm -> ELU -> max-pool``
with 128, 256, 512, 1024 and 2048 filters and pools (2,4), (2,4), (2,4), (3,5), (4,4), which
leave a ``1 x 1 x 2048`` map; a sigmoid layer gives the probabilities of the 50 tags. FCN-4 (the
same paper's MagnaTagATune model, the FCN baseline of CRNN-TF) has four blocks of 128, 384, 768 and
2048 filters with pools (2,4), (4,5), (3,8), (4,8).

The pieces are separate so that other models reuse them:

- :func:`input_frontend`: ``(B, n_mels, n_frames)`` -> ``(B, n_mels, n_frames, 1)`` and the
  input normalisation;
- :func:`conv_block`: one ``conv -> BN -> activation -> max-pool [-> dropout]`` block (any
  filters, kernel, pool, paddings, weight regulariser), e.g. the four 64/128/128/128-filter blocks
  of the CRNN of Choi et al. 2017 and of CRNN-TF;
- :func:`conv_stack`: a sequence of blocks described by :class:`FCNConfig`;
- :func:`tagging_head`: flatten and a sigmoid (tags) or softmax (genres) layer kept in float32
  (mixed precision).

Input normalisation is a choice: Choi's released Keras code (music-auto_tagging-keras,
``music_tagger_cnn.py``) starts with a batch-normalisation layer named ``bn_0_freq``; we apply
batch normalisation per mel band (axis 1), as its name says (``input_batchnorm=True``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

from common.errors import ConfigError

#: FCN-5 filter counts and pool sizes (Choi et al. 2016, Table 2, MagnaTagATune / MSD).
FCN5_FILTERS = (128, 256, 512, 1024, 2048)
FCN5_POOLS = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))

#: FCN-4 filter counts and pool sizes (Choi et al. 2016, Table 1: 96 x 1366 -> 48 x 341 -> 12 x 68
#: -> 4 x 8 -> 1 x 1).
FCN4_FILTERS = (128, 384, 768, 2048)
FCN4_POOLS = ((2, 4), (4, 5), (3, 8), (4, 8))

#: Output activations of :func:`tagging_head`: multi-label tags or single-label classes.
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class FCNConfig:
    """Shape of an FCN.

    Attributes:
        n_mels: mel bands of the input (height).
        n_frames: frames of the input (width).
        filters: filters of each conv block (its length is the depth).
        pools: max-pool size ``(freq, time)`` of each block (same length as ``filters``).
        kernel_size: conv kernel ``(freq, time)``.
        activation: Keras activation after batch norm (``"elu"`` in Choi et al. 2016).
        input_batchnorm: batch-normalise the input per mel band (see the module docstring).
        dropout: dropout rate before the sigmoid layer (0: none; Choi et al. 2016 use none).
        block_dropout: dropout rate after every max-pool (0: none; the CRNN-TF paper, Sec. V-E,
            describes its FCN baseline with 0.5 after every max-pooling layer).
    """

    n_mels: int = 96
    n_frames: int = 1366
    filters: tuple[int, ...] = FCN5_FILTERS
    pools: tuple[tuple[int, int], ...] = FCN5_POOLS
    kernel_size: tuple[int, int] = (3, 3)
    activation: str = "elu"
    input_batchnorm: bool = True
    dropout: float = 0.0
    block_dropout: float = 0.0

    def __post_init__(self):
        if len(self.filters) != len(self.pools) or not self.filters:
            raise ConfigError(f"FCNConfig: {len(self.filters)} filter counts but {len(self.pools)} pools")
        height, width = self.output_size()
        if height < 1 or width < 1:
            raise ConfigError(f"FCNConfig: pools {self.pools} reduce a {self.n_mels} x {self.n_frames} input to "
                              f"{height} x {width}; use a longer input or smaller pools")

    def output_size(self) -> tuple[int, int]:
        """``(height, width)`` of the last block's output ('valid' pooling floors each division)."""
        height, width = self.n_mels, self.n_frames
        for pool_f, pool_t in self.pools:
            height, width = height // pool_f, width // pool_t
        return height, width

    @property
    def depth(self) -> int:
        """Number of conv blocks."""
        return len(self.filters)


def input_frontend(spectrogram, config: FCNConfig):
    """Add the channel axis and normalise the input.

    Args:
        spectrogram: tensor ``(B, n_mels, n_frames)`` (log-amplitude mel-spectrogram, dB).
        config: the network shape.

    Returns:
        tensor ``(B, n_mels, n_frames, 1)``, batch-normalised per mel band when
        ``config.input_batchnorm``.
    """
    x = layers.Reshape((config.n_mels, config.n_frames, 1), name="add_channel")(spectrogram)
    if config.input_batchnorm:
        x = layers.BatchNormalization(axis=1, name="bn_input_freq")(x)
    return x


def conv_block(x, filters: int, pool: tuple[int, int], *, kernel_size=(3, 3), activation: str = "elu",
               name: str = "block", conv_padding: str = "same", pool_padding: str = "valid",
               batch_norm: bool = True, regularizer=None, dropout: float = 0.0):
    """One FCN block: ``conv (with bias, as Choi's code) -> batch norm -> activation -> max-pool
    [-> dropout]``.

    Args:
        x: tensor ``(B, H, W, C)``.
        filters: output channels.
        pool: max-pool size and stride ``(freq, time)``.
        kernel_size: conv kernel.
        activation: Keras activation name.
        name: prefix of the layer names (``<name>_conv``, ``_bn``, ``_act``, ``_pool``, ``_dropout``).
        conv_padding: ``"same"`` (Choi et al.) or ``"valid"``.
        pool_padding: ``"valid"`` (Keras' default: a partial window at the edge is dropped) or
            ``"same"`` (it is pooled too: ``ceil(H / pool)``).
        batch_norm: batch normalisation after the convolution.
        regularizer: Keras regulariser of the conv kernel and bias (None: none).
        dropout: dropout rate after the pool (0: no dropout layer).

    Returns:
        tensor ``(B, H', W', filters)``: ``H' = H // pool[0]`` with 'valid' pooling,
        ``ceil(H / pool[0])`` with 'same' (and likewise ``W'``), for 'same' convolutions.
    """
    y = layers.Conv2D(filters, kernel_size, padding=conv_padding, kernel_regularizer=regularizer,
                      bias_regularizer=regularizer, name=f"{name}_conv")(x)
    if batch_norm:
        y = layers.BatchNormalization(name=f"{name}_bn")(y)
    y = layers.Activation(activation, name=f"{name}_act")(y)
    y = layers.MaxPooling2D(pool, padding=pool_padding, name=f"{name}_pool")(y)
    if dropout > 0:
        y = layers.Dropout(dropout, name=f"{name}_dropout")(y)
    return y


def conv_stack(x, config: FCNConfig, name: str = "block"):
    """The conv blocks of ``config`` in sequence (FCN-5: five blocks).

    Args:
        x: tensor ``(B, n_mels, n_frames, C)``.
        config: filters and pools.
        name: prefix; block ``i`` (1-based) is named ``<name><i>``.

    Returns:
        tensor ``(B, *config.output_size(), config.filters[-1])``.
    """
    for i, (filters, pool) in enumerate(zip(config.filters, config.pools), start=1):
        x = conv_block(x, filters, pool, kernel_size=config.kernel_size, activation=config.activation,
                       name=f"{name}{i}", dropout=config.block_dropout)
    return x


def tagging_head(x, n_tags: int, dropout: float = 0.0, activation: str = "sigmoid"):
    """Flatten, optional dropout, and the output layer (computed in float32).

    Args:
        x: tensor ``(B, H, W, C)`` (FCN-5: ``(B, 1, 1, 2048)``).
        n_tags: number of tags (or classes).
        dropout: dropout rate (0: none).
        activation: ``"sigmoid"`` (multi-label tags) or ``"softmax"`` (one class per clip).

    Returns:
        float32 tensor ``(B, n_tags)`` of tag (class) probabilities, from the layer named ``"tags"``.

    Raises:
        ValueError: unknown activation.
    """
    if activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"output activation must be one of {OUTPUT_ACTIVATIONS}, not {activation!r}")
    x = layers.Flatten(name="flatten")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(n_tags, activation=activation, dtype="float32", name="tags")(x)


def build_fcn(n_tags: int = 50, config: FCNConfig | None = None, name: str = "FCN",
              activation: str = "sigmoid") -> keras.Model:
    """Build an FCN tagger (default: FCN-5 of Choi et al. 2016) as an uncompiled Keras model.

    Args:
        n_tags: number of outputs (50 tags on MagnaTagATune; genres with ``activation="softmax"``).
        config: network shape (default :class:`FCNConfig`, i.e. FCN-5 on 96 x 1366 inputs).
        name: model name.
        activation: output activation, ``"sigmoid"`` (tags) or ``"softmax"`` (genres).

    Returns:
        model mapping float32 ``(B, n_mels, n_frames)`` to probabilities float32 ``(B, n_tags)``.
        FCN-5 on 96 x 1366 with 50 tags has 25 191 346 parameters (:func:`fcn_parameter_count`).
    """
    config = config or FCNConfig()
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="melgram")
    x = input_frontend(spectrogram, config)
    x = conv_stack(x, config)
    probabilities = tagging_head(x, n_tags, config.dropout, activation)
    return keras.Model(spectrogram, probabilities, name=name.replace("-", ""))


def fcn_parameter_count(n_tags: int, config: FCNConfig) -> int:
    """Closed-form parameter count of :func:`build_fcn` (trainable weights and batch-norm statistics).

    Args:
        n_tags: sigmoid outputs.
        config: network shape.

    Returns:
        ``sum_i (k_f*k_t*C_in_i + 1) * F_i`` (convs with bias; ``C_in`` is 1, then the previous
        block's filters) ``+ 4 * sum_i F_i`` (batch norm: gamma, beta, moving mean and variance)
        ``+ 4 * n_mels`` (input batch norm, if used) ``+ (H * W * F_last + 1) * n_tags`` (sigmoid
        layer on the flattened ``H x W x F_last`` output).
    """
    kernel = math.prod(config.kernel_size)
    in_channels = (1, *config.filters[:-1])
    conv = sum((kernel * c + 1) * f for c, f in zip(in_channels, config.filters))
    batchnorm = 4 * sum(config.filters) + (4 * config.n_mels if config.input_batchnorm else 0)
    height, width = config.output_size()
    return conv + batchnorm + (height * width * config.filters[-1] + 1) * n_tags
