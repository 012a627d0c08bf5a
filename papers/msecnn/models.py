"""Keras builders of Table 1's trained rows: FCN-5 (Sec. 2.1, Fig. 1) and MsE-CNN (Sec. 2.2, Fig. 2).

FCN-5 is :func:`common.models.fcn.build_fcn` (Choi et al. 2016). MsE-CNN is FCN-5 unchanged plus a
multi-scale *side path* (Sec. 2.2: "we preserve the features before passing them through a
convolutional layer, then concatenate them with results of the convolution by passing them through
a max pooling operation ... the increase in time complexity is negligible"), built as in the
authors' ``MsE_CNN_model.py`` (``MS_CNN_MusicTagger``; github.com/nimahamidi/Music-tagging-with-MsE-CNN):

    x_0 = input after the per-band input batch norm (1 channel);  x_k = block_k(x_{k-1})  (FCN-5)
    s_0 = maxpool_1(x_0)
    c_k = concat[s_{k-1}, x_k]                 k = 1..5   (s_{k-1} and x_k have the same H x W)
    s_k = maxpool_{k+1}(c_k)                   k = 1..4
    output = sigmoid(dense(flatten(c_5)))

where ``maxpool_k`` is block ``k``'s pool. The side path only pools and concatenates: it never
feeds a convolution, so the conv path, its parameters and its multiply-adds are FCN-5's, and the
sigmoid layer sees ``1 + 128 + 256 + 512 + 1024 + 2048 = 3969`` features of all scales
(the input and every block output, max-pooled down to 1 x 1) instead of FCN-5's 2048.
"""

from __future__ import annotations

import keras
from keras import layers

from common.errors import ConfigError
from common.models.fcn import FCNConfig, build_fcn, conv_block, fcn_parameter_count, input_frontend, tagging_head
from papers.msecnn.config import MODEL, MODEL_NAMES, N_TAGS


def build_msecnn(n_tags: int = N_TAGS, config: FCNConfig = MODEL) -> keras.Model:
    """Build MsE-CNN (Sec. 2.2, Fig. 2; the authors' ``MsE_CNN_model.py``) as an uncompiled Keras model.

    The conv path is the FCN of ``config`` with FCN-5's layer names (``bn_input_freq``,
    ``block<k>_conv`` / ``_bn`` / ``_act`` / ``_pool``); the side path is ``multiscale_input_pool``
    (``s_0``), ``multiscale<k>_concat`` (``c_k``) and ``multiscale<k>_pool`` (``s_k``), see the module
    docstring.

    Args:
        n_tags: sigmoid outputs (50).
        config: the underlying FCN's shape (default: FCN-5 on 96 x 1366).

    Returns:
        model mapping float32 ``(B, n_mels, n_frames)`` to tag probabilities float32
        ``(B, n_tags)``; the sigmoid layer sees :func:`msecnn_feature_count` features (3969 with the
        defaults); 25 287 396 parameters with the defaults and 50 tags (:func:`msecnn_parameter_count`).
    """
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="melgram")
    x = input_frontend(spectrogram, config)
    side = layers.MaxPooling2D(config.pools[0], name="multiscale_input_pool")(x)
    for k, (filters, pool) in enumerate(zip(config.filters, config.pools), start=1):
        x = conv_block(x, filters, pool, kernel_size=config.kernel_size, activation=config.activation,
                       name=f"block{k}")
        merged = layers.Concatenate(axis=-1, name=f"multiscale{k}_concat")([side, x])
        if k < config.depth:
            side = layers.MaxPooling2D(config.pools[k], name=f"multiscale{k}_pool")(merged)
    probabilities = tagging_head(merged, n_tags, config.dropout)
    return keras.Model(spectrogram, probabilities, name="MsECNN")


def msecnn_side_channels(config: FCNConfig) -> tuple[int, ...]:
    """Channels of the side path: ``s_0`` has 1, ``s_k`` and ``c_{k+1}``'s side part ``1 + F_1 + ... + F_k``.

    Returns:
        ``(1, 1 + F_1, ..., 1 + F_1 + ... + F_depth)``: depth + 1 values; the last is the channel count
        of ``c_depth``, the map the sigmoid layer sees (FCN-5: 1, 129, 385, 897, 1921, 3969).
    """
    channels, out = 1, [1]
    for filters in config.filters:
        channels += filters
        out.append(channels)
    return tuple(out)


def msecnn_feature_count(config: FCNConfig) -> int:
    """Features into the sigmoid layer: ``H * W * (1 + F_1 + ... + F_depth)`` (FCN-5 shape: 3969).

    ``H x W`` is the conv path's output size (:meth:`FCNConfig.output_size`); the side path applies the
    same pools in the same order, so its maps always have the conv path's size.
    """
    height, width = config.output_size()
    return height * width * msecnn_side_channels(config)[-1]


def msecnn_parameter_count(n_tags: int, config: FCNConfig) -> int:
    """Closed-form parameter count of :func:`build_msecnn`.

    Returns:
        FCN's count (:func:`common.models.fcn.fcn_parameter_count`: convs, batch norms, input batch norm,
        sigmoid layer) with the sigmoid layer widened from ``H * W * F_depth`` to
        :func:`msecnn_feature_count` inputs: ``+ H * W * (1 + F_1 + ... + F_{depth-1}) * n_tags``. The
        side path (max-pools, concatenations) has no parameters.
    """
    height, width = config.output_size()
    extra_features = msecnn_feature_count(config) - height * width * config.filters[-1]
    return fcn_parameter_count(n_tags, config) + extra_features * n_tags


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
