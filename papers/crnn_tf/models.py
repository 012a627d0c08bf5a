"""Keras builders: CRNN-TF (Wang et al. 2018, Sec. III, Fig. 2) and the baselines of Sec. V-B:
FCN (Choi et al. 2016, the shared :mod:`common.models.fcn` builder), CRNN (Choi et al. 2017), Timbre CNN
(Pons et al. 2017) and End-to-end (Dieleman & Schrauwen 2014).

Every builder returns an uncompiled model whose last layer is named ``"output"`` (softmax for
``task="genres"``, sigmoid for ``task="tags"``; the FCN's is ``"tags"``, as in
:mod:`common.models.fcn`). CRNN-TF's layers are named by part so that the
transfer modes of Table III can freeze them: ``cnn_*`` (convolutions, batch normalisation,
pooling), ``scan*`` and ``rnn_*`` (the recurrent blocks), ``dropout``, ``output``.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from common.models.fcn import FCNConfig, build_fcn, conv_block
from papers.crnn_tf.config import (FCN, AuthorsEndToEndConfig, AuthorsFCNConfig, AuthorsTimbreCNNConfig, CRNNConfig,
                                   CRNNTFConfig, EndToEndConfig, TimbreCNNConfig)
from papers.crnn_tf.layers import DIRECTIONS, DirectionalScan, GridLSTM, MultiDirectionalScan

TASKS = {"genres": "softmax", "tags": "sigmoid"}


def _activation(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, not {task!r}")
    return TASKS[task]


def _l2(value: float):
    return keras.regularizers.L2(value) if value else None


#: ``CRNNTFConfig.l2_scope`` values.
L2_SCOPES = ("all", "kernels")


def crnn_tf_regularizers(config: CRNNTFConfig) -> dict:
    """CRNN-TF's L2 penalties by weight kind (paper Sec. IV, V-C; ``config.l2``, ``config.l2_scope``).

    Returns:
        ``{"kernel", "recurrent", "bias"}``: a ``keras.regularizers.L2`` or None each. ``"all"``:
        the same L2 object on all three; ``"kernels"``: on ``"kernel"`` only (None when ``l2`` is 0).

    Raises:
        ValueError: unknown ``l2_scope``.
    """
    if config.l2_scope not in L2_SCOPES:
        raise ValueError(f"CRNNTFConfig.l2_scope must be one of {L2_SCOPES}, not {config.l2_scope!r}")
    penalty = _l2(config.l2)
    everything = config.l2_scope == "all"
    return {"kernel": penalty, "recurrent": penalty if everything else None, "bias": penalty if everything else None}


def _pooled(size: int, pool: int, padding: str) -> int:
    return math.ceil(size / pool) if padding == "same" else size // pool


def cnn_map_shape(config: CRNNTFConfig) -> tuple[int, int, int]:
    """Size ``(bands, frames, channels)`` of the CNN's activation map (Sec. III-B).

    With the paper's 96 x 1360 input, 'same' convolutions and four 2 x 4 max-pools: 'same' pooling
    gives 6 x 6 x 128 (the paper's size; 1360 -> 340 -> 85 -> 22 -> 6 frames), 'valid' pooling
    6 x 5 x 128 (85 -> 21 -> 5).
    """
    bands, frames = config.n_mels, config.n_frames
    for _ in config.conv_filters:
        bands = _pooled(bands, config.pool[0], config.pool_padding)
        frames = _pooled(frames, config.pool[1], config.pool_padding)
    return bands, frames, config.conv_filters[-1]


def cnn(spectrogram, config: CRNNTFConfig):
    """CRNN-TF's CNN (Sec. III-B, V-C): 4 x (conv 3 x 3 -> batch norm -> ELU -> max-pool 2 x 4).

    The block of :func:`common.models.fcn.conv_block` (conv with bias -> BN -> activation -> max-pool)
    with CRNN-TF's paddings and its L2 penalties on the conv kernel and (``l2_scope="all"``) bias;
    layers are named ``cnn_block<i>_conv``, ``_bn``, ``_act``, ``_pool``.

    Args:
        spectrogram: tensor ``(B, n_mels, n_frames)`` (log-mel, dB).
        config: filters, kernel, pool, paddings, activation, L2.

    Returns:
        tensor ``(B, bands, frames, conv_filters[-1])`` (see :func:`cnn_map_shape`).
    """
    reg = crnn_tf_regularizers(config)
    x = layers.Reshape((config.n_mels, config.n_frames, 1), name="cnn_add_channel")(spectrogram)
    for i, filters in enumerate(config.conv_filters, start=1):
        if reg["bias"] is reg["kernel"]:
            x = conv_block(x, filters, config.pool, kernel_size=config.kernel, activation=config.activation,
                           name=f"cnn_block{i}", conv_padding=config.conv_padding,
                           pool_padding=config.pool_padding, batch_norm=config.batch_norm,
                           regularizer=reg["kernel"])
            continue
        x = layers.Conv2D(filters, config.kernel, padding=config.conv_padding, kernel_regularizer=reg["kernel"],
                          bias_regularizer=reg["bias"], name=f"cnn_block{i}_conv")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"cnn_block{i}_bn")(x)
        x = layers.Activation(config.activation, name=f"cnn_block{i}_act")(x)
        x = layers.MaxPooling2D(config.pool, padding=config.pool_padding, name=f"cnn_block{i}_pool")(x)
    return x


def multi_directional_rnn(feature_map, config: CRNNTFConfig):
    """Scanners + recurrent blocks + concatenation (Sec. III-C, III-D Eq. (1)).

    - ``rnn="grid_lstm"`` (the paper): one Grid LSTM block of ``rnn_units`` per scanner, all
      blocks with their own weights, run side by side in one layer ``rnn_grid_lstm``
      (:class:`~papers.crnn_tf.layers.GridLSTM` with ``blocks = len(directions)``) over the
      step-aligned sequences of ``scan`` (:class:`~papers.crnn_tf.layers.MultiDirectionalScan`);
      its output is already the concatenation ``[y_Ar, y_Ac, ...]`` in scanner order.
    - ``rnn="gru"`` (the ``CRNN-TF (GRU)`` row, not the paper's): layers ``scan_<d>`` -> ``rnn_<d>``
      (a Keras GRU, its last output) per scanner, concatenated by ``concat``.

    Either reads each scan as ``config.sequence_reading`` (``"raster"``: H * W steps of C values;
    ``"whole_row"``: whole rows / columns as steps).

    Args:
        feature_map: ``(B, H, W, C)`` CNN output.
        config: scanners, reading, block type and size, L2.

    Returns:
        tensor ``(B, len(directions) * rnn_units)``.

    Raises:
        ValueError: unknown ``config.rnn``, reading or L2 scope; ``"whole_row"`` Grid LSTM blocks
            mixing row- and column-wise scanners on a non-square map.
    """
    reg = crnn_tf_regularizers(config)
    if config.rnn == "grid_lstm":
        sequences = MultiDirectionalScan(config.directions, config.sequence_reading, name="scan")(feature_map)
        return GridLSTM(config.rnn_units, depth=config.grid_depth, blocks=len(config.directions),
                        output_form=config.grid_output_form, kernel_regularizer=reg["kernel"],
                        bias_regularizer=reg["bias"], name="rnn_grid_lstm")(sequences)
    if config.rnn == "gru":
        outputs = [layers.GRU(config.rnn_units, kernel_regularizer=reg["kernel"], recurrent_regularizer=reg["recurrent"],
                              bias_regularizer=reg["bias"], reset_after=config.gru_reset_after, name=f"rnn_{d}")(
                       DirectionalScan(d, config.sequence_reading, name=f"scan_{d}")(feature_map))
                   for d in config.directions]
        return outputs[0] if len(outputs) == 1 else layers.Concatenate(name="concat")(outputs)
    raise ValueError(f"CRNNTFConfig.rnn must be 'grid_lstm' or 'gru', not {config.rnn!r}")


def build_crnn_tf(n_outputs: int, task: str = "genres", config: CRNNTFConfig | None = None) -> keras.Model:
    """CRNN-TF (Sec. III, Fig. 2): CNN -> 8 scanners -> 8 recurrent blocks -> concat -> dropout -> FC.

    With ``config.hidden_units`` (the ``CRNN-TF (GRU)`` row; the paper has none) a dense ELU layer
    ``fc_hidden`` sits between the dropout and the output layer; like the output layer it is
    trained in every Table III transfer mode.

    Args:
        n_outputs: genres or tags.
        task: ``"genres"`` (softmax) or ``"tags"`` (sigmoid).
        config: architecture (default :class:`CRNNTFConfig`: the paper's).

    Returns:
        model: float32 log-mel ``(B, n_mels, n_frames)`` (dB) -> probabilities ``(B, n_outputs)``.

    Raises:
        ValueError: unknown task, rnn type or scanner, or no scanner selected.
    """
    config = config or CRNNTFConfig()
    if not config.directions or any(d not in DIRECTIONS for d in config.directions):
        raise ValueError(f"directions must be a non-empty subset of {DIRECTIONS}, got {config.directions}")
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="log_mel")
    y = layers.Dropout(config.dropout, name="dropout")(multi_directional_rnn(cnn(spectrogram, config), config))
    reg = crnn_tf_regularizers(config)
    if config.hidden_units:
        y = layers.Dense(config.hidden_units, activation=config.activation, kernel_regularizer=reg["kernel"],
                         bias_regularizer=reg["bias"], name="fc_hidden")(y)
    output_reg = reg if config.output_l2 else {"kernel": None, "bias": None}
    probs = layers.Dense(n_outputs, activation=_activation(task), kernel_regularizer=output_reg["kernel"],
                         bias_regularizer=output_reg["bias"], name="output")(y)
    return keras.Model(spectrogram, probs, name="CRNN_TF")


def build_fcn_baseline(n_outputs: int, task: str = "genres", config: FCNConfig | None = None) -> keras.Model:
    """FCN baseline (Choi et al. 2016, FCN-4 by default; CRNN-TF Sec. V-B) from :func:`common.models.fcn.build_fcn`.

    Args:
        n_outputs: genres or tags.
        task: ``"genres"`` (softmax) or ``"tags"`` (sigmoid).
        config: network shape (default :data:`papers.crnn_tf.config.FCN`: FCN-4 on 96 x 1360, dropout
            0.5 after every max-pool).

    Returns:
        model: float32 log-mel ``(B, n_mels, n_frames)`` (dB) -> probabilities ``(B, n_outputs)``.

    Raises:
        ValueError: unknown task.
    """
    return build_fcn(n_outputs, config or FCN, name="FCN", activation=_activation(task))


def build_crnn(n_outputs: int, task: str = "genres", config: CRNNConfig | None = None) -> keras.Model:
    """CRNN of Choi et al. (ICASSP 2017), following their released Keras code (music_tagger_crnn.py).

    Input zero-padded in time to ``pad_to`` frames, batch normalisation per mel band, four blocks
    of conv 3 x 3 ('same') -> BN -> ELU -> max-pool -> dropout 0.1 with 64, 128, 128, 128 filters
    and pools (2,2), (3,3), (4,4), (4,4) -> a 1 x 15 x 128 map read as 15 steps -> GRU 32 (sequences)
    -> GRU 32 (last) -> dropout 0.3 -> output.

    Left open by the paper and its code: weight regularisation (none), the exact input
    normalisation (the code's ``bn_0_freq`` normalises along an axis that depends on the image
    ordering; here per mel band, as its name says), and the optimiser settings (see config).

    Returns:
        model: ``(B, n_mels, n_frames)`` -> ``(B, n_outputs)``.
    """
    config = config or CRNNConfig()
    reg = _l2(config.l2)
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="log_mel")
    x = layers.Reshape((config.n_mels, config.n_frames, 1), name="add_channel")(spectrogram)
    pad = max(config.pad_to - config.n_frames, 0)
    if pad:
        x = layers.ZeroPadding2D(((0, 0), (pad // 2, pad - pad // 2)), name="pad_time")(x)
    if config.input_batch_norm:
        x = layers.BatchNormalization(axis=1, name="bn_0_freq")(x)
    for i, (filters, pool) in enumerate(zip(config.conv_filters, config.pools), start=1):
        x = layers.Conv2D(filters, (3, 3), padding="same", kernel_regularizer=reg, bias_regularizer=reg,
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation(config.activation, name=f"{config.activation}{i}")(x)
        x = layers.MaxPooling2D(pool, padding=config.pool_padding, name=f"pool{i}")(x)
        if config.conv_dropout:
            x = layers.Dropout(config.conv_dropout, name=f"dropout{i}")(x)
    bands, frames, channels = x.shape[1:]
    x = layers.Permute((2, 1, 3), name="time_first")(x)
    x = layers.Reshape((frames, bands * channels), name="to_sequence")(x)
    for i, units in enumerate(config.gru_units, start=1):
        last = i == len(config.gru_units)
        x = layers.GRU(units, return_sequences=not last, kernel_regularizer=reg, recurrent_regularizer=reg,
                       bias_regularizer=reg, reset_after=config.gru_reset_after, name=f"gru{i}")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    probs = layers.Dense(n_outputs, activation=_activation(task), kernel_regularizer=reg, bias_regularizer=reg,
                         name="output")(x)
    return keras.Model(spectrogram, probs, name="CRNN")


def build_timbre_cnn(n_outputs: int, task: str = "genres", config: TimbreCNNConfig | None = None) -> keras.Model:
    """Timbre CNN of Pons et al. (EUSIPCO 2017), the auto-tagging model of their released code.

    Layer 1: parallel branches of vertical filters spanning ``f`` of the 128 mel bands and ``t``
    frames (``t`` in 1, 3, 5, 7 zero-padded in time; ``f`` in 100, 50, 25, 5 as the CRNN-TF text
    gives them, 100, 75, 25 in Pons et al.'s code; no padding in frequency), ELU, each max-pooled
    by 4 in time and over all its frequency positions; channels concatenated.
    Layer 2: 32 filters spanning 8 time steps and all channels, ELU, max-pool 4 in time. Then
    dropout 0.5 -> dense 100 ELU -> dropout 0.5 -> output. He-uniform initialisation, L2 1e-5.

    Left open by the paper (taken from Pons et al.'s code): the filter counts per branch (for the
    CRNN-TF text's extents, those of the code's nearest extent), the second layer, the dense layer;
    left open by both: the width multiplier used for the reported numbers (see
    :class:`TimbreCNNConfig`).

    Returns:
        model: patch ``(B, n_mels, patch_frames)`` (standardised log-mel) -> ``(B, n_outputs)``.
    """
    config = config or TimbreCNNConfig()
    reg = _l2(config.l2)
    patch = keras.Input((config.n_mels, config.patch_frames), name="log_mel_patch")
    x = layers.Permute((2, 1), name="time_first")(patch)
    x = layers.Reshape((config.patch_frames, config.n_mels, 1), name="add_channel")(x)
    branches = []
    for time_extent, freq_extent, count in config.filters:
        name = f"{time_extent}x{freq_extent}"
        y = x
        if time_extent > 1:
            y = layers.ZeroPadding2D((((time_extent - 1) // 2, (time_extent - 1) // 2), (0, 0)),
                                     name=f"pad_{name}")(y)
        y = layers.Conv2D(count * config.width, (time_extent, freq_extent), activation="elu",
                          kernel_initializer="he_uniform", kernel_regularizer=reg, name=f"conv_{name}")(y)
        y = layers.MaxPooling2D((config.pool_time, y.shape[2]), name=f"pool_{name}")(y)
        branches.append(y)
    x = layers.Concatenate(axis=-1, name="concat")(branches)            # (T / 4, 1, channels)
    steps, _, channels = x.shape[1:]
    x = layers.Reshape((steps, channels, 1), name="channels_as_width")(x)
    x = layers.Conv2D(config.conv2_filters * config.width, (config.conv2_time, channels), activation="elu",
                      kernel_initializer="he_uniform", kernel_regularizer=reg, name="conv2")(x)
    x = layers.MaxPooling2D((config.pool_time, 1), name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(config.dropout, name="dropout1")(x)
    x = layers.Dense(config.dense_units, activation="elu", kernel_initializer="he_uniform", kernel_regularizer=reg,
                     name="dense")(x)
    x = layers.Dropout(config.dropout, name="dropout2")(x)
    probs = layers.Dense(n_outputs, activation=_activation(task), kernel_regularizer=reg, name="output")(x)
    return keras.Model(patch, probs, name="TimbreCNN")


def build_end_to_end(n_outputs: int, task: str = "genres", config: EndToEndConfig | None = None) -> keras.Model:
    """End-to-end raw-audio model of Dieleman & Schrauwen (ICASSP 2014).

    A strided 1-D convolution over the raw signal (filter length = stride = 256 samples) replaces
    the spectrogram; then conv 32 x 8 -> max-pool 4 -> conv 32 x 8 -> max-pool 4 -> dense 100 ->
    output, ReLU throughout, 'valid' convolutions.

    Left open (or not checkable here) and chosen: the number of front-end filters (128), padding
    ('valid'), weight regularisation (none); see :class:`EndToEndConfig`.

    Returns:
        model: waveform window ``(B, window_samples)`` (float32, [-1, 1]) -> ``(B, n_outputs)``.
    """
    config = config or EndToEndConfig()
    reg = _l2(config.l2)
    audio = keras.Input((config.window_samples,), name="waveform")
    x = layers.Reshape((config.window_samples, 1), name="add_channel")(audio)
    x = layers.Conv1D(config.frontend_filters, config.frontend_length, strides=config.frontend_stride,
                      activation=config.activation, kernel_regularizer=reg, name="strided_conv")(x)
    for i in (1, 2):
        x = layers.Conv1D(config.conv_filters, config.conv_length, activation=config.activation,
                          kernel_regularizer=reg, name=f"conv{i}")(x)
        x = layers.MaxPooling1D(config.pool, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(config.dense_units, activation=config.activation, kernel_regularizer=reg, name="dense")(x)
    probs = layers.Dense(n_outputs, activation=_activation(task), kernel_regularizer=reg, name="output")(x)
    return keras.Model(audio, probs, name="EndToEnd")


def build_fcn_authors(n_outputs: int, task: str = "genres", config: AuthorsFCNConfig | None = None) -> keras.Model:
    """The FCN of the CRNN-TF authors' notebook (``FishInMedi/CRNN-TF`` ``1.ipynb`` cell 3 L11-40).

    Four blocks of conv 3 x 3 ('same', strides ``config.conv_strides``) -> BN -> ReLU -> max-pool
    ('same', ``config.pools`` / ``config.pool_strides``) -> dropout 0.5; flatten; output. No input
    normalisation, no penalty (:class:`~papers.crnn_tf.config.AuthorsFCNConfig`).

    Returns:
        model: float32 log-mel ``(B, n_mels, n_frames)`` -> probabilities ``(B, n_outputs)``.
    """
    config = config or AuthorsFCNConfig()
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="log_mel")
    x = layers.Reshape((config.n_mels, config.n_frames, 1), name="add_channel")(spectrogram)
    for i, (filters, stride, pool, pool_stride) in enumerate(
            zip(config.filters, config.conv_strides, config.pools, config.pool_strides), start=1):
        x = layers.Conv2D(filters, (3, 3), strides=stride, padding="same", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(pool, strides=pool_stride, padding="same", name=f"pool{i}")(x)
        x = layers.Dropout(config.dropout, name=f"dropout{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    probs = layers.Dense(n_outputs, activation=_activation(task), name="output")(x)
    return keras.Model(spectrogram, probs, name="FCN_authors")


def build_timbre_cnn_authors(n_outputs: int, task: str = "genres",
                             config: AuthorsTimbreCNNConfig | None = None) -> keras.Model:
    """The "Timbre CNN" of the CRNN-TF authors' notebook (``1.ipynb`` cell 5 L12-76), on the whole clip.

    Parallel branches conv ``(f, t)`` ('same') -> BN -> ReLU -> max-pool 4 x 4 ('same'),
    concatenated (84 channels); conv 32 x (8 x 8) ('same') -> BN -> ReLU -> max-pool 4 x 4; flatten ->
    dropout 0.5 -> dense 100 ReLU -> output. No penalty (:class:`~papers.crnn_tf.config.AuthorsTimbreCNNConfig`).

    Returns:
        model: float32 log-mel ``(B, n_mels, n_frames)`` -> probabilities ``(B, n_outputs)``.
    """
    config = config or AuthorsTimbreCNNConfig()
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="log_mel")
    x = layers.Reshape((config.n_mels, config.n_frames, 1), name="add_channel")(spectrogram)
    branches = []
    for freq_extent, time_extent, count in config.filters:
        name = f"{freq_extent}x{time_extent}"
        y = layers.Conv2D(count, (freq_extent, time_extent), padding="same", name=f"conv_{name}")(x)
        y = layers.BatchNormalization(name=f"bn_{name}")(y)
        y = layers.Activation("relu", name=f"relu_{name}")(y)
        branches.append(layers.MaxPooling2D(config.pool, padding="same", name=f"pool_{name}")(y))
    x = layers.Concatenate(name="concat")(branches)
    x = layers.Conv2D(config.conv2_filters, config.conv2_kernel, padding="same", name="conv2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.Activation("relu", name="relu2")(x)
    x = layers.MaxPooling2D(config.pool, padding="same", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    probs = layers.Dense(n_outputs, activation=_activation(task), name="output")(x)
    return keras.Model(spectrogram, probs, name="TimbreCNN_authors")


def build_end_to_end_authors(n_outputs: int, task: str = "genres",
                             config: AuthorsEndToEndConfig | None = None) -> keras.Model:
    """The "End-to-end" of the CRNN-TF authors' notebook (``1.ipynb`` cell 7 L11-26), on the mel-spectrogram.

    Two blocks conv 32 x (8 x 8) ('same') -> BN -> ReLU -> max-pool 4 x 4 ('same'); flatten ->
    dropout 0.5 -> dense 100 ReLU -> output. No penalty (:class:`~papers.crnn_tf.config.AuthorsEndToEndConfig`).

    Returns:
        model: float32 log-mel ``(B, n_mels, n_frames)`` -> probabilities ``(B, n_outputs)``.
    """
    config = config or AuthorsEndToEndConfig()
    spectrogram = keras.Input((config.n_mels, config.n_frames), name="log_mel")
    x = layers.Reshape((config.n_mels, config.n_frames, 1), name="add_channel")(spectrogram)
    for i, filters in enumerate(config.conv_filters, start=1):
        x = layers.Conv2D(filters, config.conv_kernel, padding="same", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(config.pool, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    probs = layers.Dense(n_outputs, activation=_activation(task), name="output")(x)
    return keras.Model(spectrogram, probs, name="EndToEnd_authors")


def transfer_weights(source: keras.Model, target: keras.Model, skip=("output",)) -> list[str]:
    """Copy the weights of every same-named layer except ``skip`` from ``source`` to ``target``.

    Returns:
        names of the layers whose weights were copied.

    Raises:
        ValueError: a layer with weights in ``target`` has no same-named counterpart in ``source``
            (the two are not the same architecture).
    """
    copied = []
    for layer in target.layers:
        if layer.name in skip or not layer.weights:
            continue
        try:
            other = source.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"source model has no layer {layer.name!r}: not the same architecture") from None
        layer.set_weights(other.get_weights())
        copied.append(layer.name)
    return copied


def freeze(model: keras.Model, prefixes: tuple[str, ...]) -> list[str]:
    """Make every layer whose name starts with one of ``prefixes`` non-trainable.

    Frozen batch-normalisation layers also run in inference mode (Keras 3), so their moving
    statistics stay those of the pre-trained model.

    Returns:
        names of the frozen layers.
    """
    frozen = []
    for layer in model.layers:
        if layer.name.startswith(prefixes):
            layer.trainable = False
            frozen.append(layer.name)
    return frozen
