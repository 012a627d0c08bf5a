"""Apply a trained MsE-CNN or FCN-5 fold to new audio: the adapter of ``make predict`` for Table 1.

:func:`fold_model` rebuilds the scheme exactly as :func:`papers.msecnn.protocol.run_model_fold` built
it (the model name, :class:`~common.models.fcn.FCNConfig`, training settings and store dtype bound
in the scheme's ``run_fold`` partial, see :mod:`papers.msecnn.tables`), loads the fold's
``best.weights.h5`` and scores one whole-clip log-mel spectrogram per file through
:func:`common.inference.fold_model.clip_fold_model` (the 50 tags' sigmoid outputs).
"""

from __future__ import annotations

import keras

from common.inference.fold_model import FoldModel, FoldSource, clip_fold_model, run_fold_arguments
from papers.msecnn.models import build_model
from papers.msecnn.protocol import run_model_fold


def fold_model(source: FoldSource) -> FoldModel:
    """Rebuild an MsE-CNN / FCN-5 trained fold for ``predict`` and ``--export``.

    Args:
        source: the fold; its scheme's ``run_fold`` is ``partial(run_model_fold, name, FCNConfig,
            TrainingConfig, store_dtype)``.

    Returns:
        :class:`~common.inference.fold_model.FoldModel` mapping one prepared clip (the table's
        ``spec.prepare`` output, float32 ``(n_mels, n_frames)``) to float64 ``(50,)`` tag probabilities.

    Raises:
        ConfigError: another fold function, or a checkpoint that does not load.
    """
    _, (name, model_config, training, store_dtype) = run_fold_arguments(source, run_model_fold)
    keras.backend.clear_session()
    model = build_model(name, len(source.classes), model_config)
    return clip_fold_model(source, model, "tags", store_dtype, training.batch_size)
