"""A user's clip tagging model (``--scheme-module``) under MsE-CNN Table 1's protocol (MagnaTagATune).

The adapter of :mod:`common.runner.scheme_module` for ``msecnn.table1_mtat``. A user's model is run
as the table runs MsE-CNN and FCN-5 (:func:`papers.msecnn.protocol.run_model_fold`):

- the standard split (folders 0-b train, c validation, d-f test) and the table's whole-clip
  log-mel spectrograms, 96 mel bands x 1366 frames (29.12 s at 12 kHz, dB x 2, clipped 80 dB
  below the clip's maximum), stored as float16 memory maps and fed as float32;
- binary cross-entropy, Adam (learning rate 1e-4, batch 32 clips, 50 epochs; the table's
  :class:`~common.training.trainer.TrainingConfig`, with the module's ``TRAINING`` overrides), the
  checkpoint of the lowest validation loss, mixed precision / XLA as the table's configuration
  says (``auto``: on with a GPU), under the table's distribution strategy;
- macro ROC-AUC and PR-AUC over the tags with a positive test clip, from the test clips'
  sigmoid outputs (scikit-learn), and the test scores saved beside the checkpoint.

The steps are those of :func:`~papers.msecnn.protocol.run_model_fold` with the model built by
the user's ``build_model((96, 1366), 50)``. Under mixed precision the model is built inside the
float16 policy: end it with a layer of ``dtype="float32"`` (as the examples do), so the
probabilities are float32.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import keras

from common.runner.identity import file_code_version
from common.runner.scheme_module import SchemeModule, SchemeModuleRef, TableInput, build_checked
from common.runner.spec import FoldContext, FoldOutcome, Scheme
from common.training.trainer import TrainingConfig
from papers.msecnn.config import N_TAGS
from papers.msecnn.protocol import run_model_fold, run_tagging_fold
from papers.msecnn.tables import prepare_clip


def _model_row(spec):
    """``(training, store_dtype)`` of the table's first trained row (its ``run_fold`` partial's arguments)."""
    for scheme in spec.paper_trainable():
        run_fold = scheme.run_fold
        if getattr(run_fold, "func", None) is run_model_fold:
            return run_fold.args[2], run_fold.args[3]
    return None


def table_input(spec) -> TableInput | None:
    """What a user's model gets in MsE-CNN Table 1: one clip spectrogram ``(96, 1366)``; None if not supported."""
    prepare = getattr(spec.prepare, "func", None)
    if spec.paper != "msecnn" or prepare is not prepare_clip or _model_row(spec) is None:
        return None
    shape = tuple(spec.prepare.keywords["shape"])
    return TableInput(
        shape=shape,
        meaning=(f"one clip's log-mel spectrogram, {shape[0]} mel bands x {shape[1]} frames (29.12 s at 12 kHz, "
                 f"dB x 2, clipped 80 dB below the clip's maximum; stored as float16, fed as float32); no "
                 f"channel axis"),
        outputs="tags", n_outputs=N_TAGS,
        aggregation="one model call per clip: the clip's tag probabilities (sigmoid)")


def table_training(spec) -> TrainingConfig:
    """The training configuration a user's ``TRAINING`` overrides in this table: MsE-CNN's and
    FCN-5's (:data:`papers.msecnn.config.TRAINING`, with the run's acceleration settings). Call
    for a table that :func:`table_input` supports."""
    return _model_row(spec)[0]


def user_scheme(spec, module: SchemeModule, table_input_: TableInput) -> Scheme:
    """The table row of a user's scheme module (see :func:`common.runner.scheme_module.add_scheme_module`)."""
    training, store_dtype = _model_row(spec)
    training = module.training_config(training)
    return Scheme(
        module.name, partial(run_user_fold, module.ref, tuple(table_input_.shape), training, store_dtype),
        f"{module.description} (scheme module {module.ref.path}; not the paper's)",
        config={"scheme_module_code": module.ref.code, "training": training.describe(), "store_dtype": store_dtype,
                "input_shape": list(table_input_.shape), "adapter_code": file_code_version(Path(__file__))},
        scheme_module=module.ref.path, predictor=fold_model)


def run_user_fold(ref: SchemeModuleRef, input_shape: tuple, training: TrainingConfig, store_dtype: str,
                  context: FoldContext) -> FoldOutcome:
    """Train a user's tagging model on the MagnaTagATune split and measure test ROC-AUC and PR-AUC.

    Args:
        ref: the scheme module (loaded again here, so that shards and Ray workers can run it).
        input_shape: ``(96, 1366)``.
        training: the table's training configuration with the module's overrides.
        store_dtype: dtype of the memory-mapped feature stores.
        context: fold data from the runner (features: ``(96, 1366)`` arrays per clip).

    Returns:
        ``FoldOutcome(metrics={"roc_auc", "pr_auc"}, details=...)`` with the details of
        :func:`papers.msecnn.protocol.run_model_fold` and the module's file and code version.

    Raises:
        ConfigError: the module changed since the run was planned, or its model does not fit.
    """
    module = ref.load()
    table_input_ = TableInput(shape=tuple(input_shape), meaning="one clip spectrogram", outputs="tags",
                              n_outputs=len(context.index.classes), aggregation="")
    return run_tagging_fold(lambda n_tags: build_checked(module, table_input_, n_tags), ref.name, training,
                            store_dtype, context,
                            extra_details={"scheme_module": ref.path, "scheme_module_code": ref.code})


def fold_model(source):
    """Rebuild a trained fold of a user's row for ``predict`` / ``--export`` (the row's ``predictor``).

    Returns:
        :class:`common.inference.fold_model.FoldModel` scoring one clip spectrogram ``(96, 1366)``
        (rounded through the store dtype, as in training) to tag probabilities float64 ``(n_tags,)``.

    Raises:
        ConfigError: the module changed since the run, or the checkpoint does not load.
    """
    from common.inference.fold_model import clip_fold_model

    ref, input_shape, training, store_dtype = source.scheme.run_fold.args
    module = ref.load()
    keras.backend.clear_session()
    table_input_ = TableInput(shape=tuple(input_shape), meaning="one clip spectrogram", outputs="tags",
                              n_outputs=len(source.classes), aggregation="")
    model = build_checked(module, table_input_)
    return clip_fold_model(source, model, "tags", store_dtype, training.batch_size)
