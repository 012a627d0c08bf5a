"""Apply a trained CRNN-TF table's clip model to new audio: the adapter of ``make predict`` for Tables I-III.

:func:`fold_model` rebuilds the scheme as its protocol built it: the clip models of Tables I-II
and Fig. 5 (:func:`papers.crnn_tf.protocol.run_clip_model_fold`, builder from
:data:`papers.crnn_tf.protocol.CLIP_BUILDERS`) and Table III's transfer rows
(:func:`papers.crnn_tf.protocol.run_transfer_fold`, a CRNN-TF with a genre head), loads the fold's
``best.weights.h5`` and scores one whole-clip log-mel spectrogram per file through
:func:`common.inference.fold_model.clip_fold_model`. Not supported (a clear error says so): the
schemes whose fold function is another one (Timbre CNN, End-to-end and MFCC + SVM of Table III).
"""

from __future__ import annotations

import keras

from common.inference.fold_model import FoldModel, FoldSource, clip_fold_model, run_fold_arguments
from papers.crnn_tf import models
from papers.crnn_tf.protocol import CLIP_BUILDERS, STORE_DTYPE, run_clip_model_fold, run_transfer_fold


def fold_model(source: FoldSource) -> FoldModel:
    """Rebuild a CRNN-TF table's trained clip model for ``predict`` and ``--export``.

    Args:
        source: the fold; its scheme's ``run_fold`` is ``partial(run_clip_model_fold, builder,
            model_config, training, task)`` or ``partial(run_transfer_fold, ..., model_config, training)``.

    Returns:
        :class:`~common.inference.fold_model.FoldModel` mapping one prepared clip (float32
        ``(96, n_frames)`` log-mel) to float64 probabilities: 50 tags (sigmoid) for the tagging
        tables, the genres (softmax) for Tables II-III.

    Raises:
        ConfigError: another fold function, or a checkpoint that does not load.
    """
    func, args = run_fold_arguments(source, run_clip_model_fold, run_transfer_fold)
    keras.backend.clear_session()
    if func is run_clip_model_fold:
        builder, model_config, training, task = args
        model = CLIP_BUILDERS[builder](len(source.classes), task, model_config)
    else:
        _, _, _, model_config, training = args
        task = "genres"
        model = models.build_crnn_tf(len(source.classes), task, model_config)
    return clip_fold_model(source, model, "tags" if task == "tags" else "classes", STORE_DTYPE, training.batch_size)
