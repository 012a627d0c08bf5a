"""A user's clip model (``--scheme-module``) under the CRNN-TF tables' protocol (Tables I, II, III, Fig. 5).

The adapter of :mod:`common.runner.scheme_module` for every CRNN-TF table. A user's model is run
as the table runs its CRNN-TF row (:func:`papers.crnn_tf.protocol.run_clip_model_fold` in Tables I,
II and Fig. 5; :func:`papers.crnn_tf.protocol.run_transfer_fold` from scratch in Table III), the
same steps with the model built by the user's ``build_model((96, 1360), n_outputs)``:

- the table's split: MagnaTagATune folders 0-b / c / d-f (Table I, Fig. 5), FMA medium's own
  training / validation / test split (Table II), GTZAN's 10 stratified folds with 10 % of the
  tracks held out from training for validation (Table III: the module's row runs from scratch,
  fold by fold, as the ``CRNN-TF`` row does);
- the table's clip: one log-mel spectrogram per track, 96 mel bands x 1360 frames (the first 29 s
  at 12 kHz, 512-point FFT, hop 256), ``10 log10`` of the mel power in dB (floor -100 dB, no top-dB
  clipping; a shorter clip padded with -100 dB), stored as float16 memory maps and fed as float32
  (:func:`papers.crnn_tf.protocol.fit_clip_model`); no scaling (the table's networks batch-normalise
  after their first convolution);
- the CRNN-TF row's training (:data:`papers.crnn_tf.config.TRAINING`: Adam 1e-3 decayed by 0.9 per
  epoch, batch 32 clips, at most 100 epochs, early stopping with patience 10 on the validation
  loss and the best validation checkpoint kept), with the module's ``TRAINING`` overrides; loss
  binary cross-entropy on 50 tags (sigmoid) or categorical cross-entropy on the genres (softmax);
- the table's metrics (:func:`papers.crnn_tf.protocol.evaluate`): the test clips scored once with
  the kept checkpoint: macro ROC-AUC over tags, Recall@1/3/5/10, NDCG@50, JSC and the AUC of
  every tag (Table I, Fig. 5); macro and support-weighted ROC-AUC, precision, recall, F1 and
  accuracy over genres (Tables II, III). Where the table scores the test split after every epoch
  (Tables I, II, Fig. 5: ``Settings.epoch_test``), the module's row is too, and gets the table's
  labelled ``"<metric> (best epoch on test, as the authors selected)"`` cells beside the
  validation-selected ones: the authors' selection, kept so the row reads like the table's rows;
  training and the kept checkpoint are unchanged by it. Table III never does.

The reference row is the table's ``CRNN-TF`` (Fig. 5: the row with the most scanners, ``ABCDrc``);
its training configuration, task and epoch-test setting are read from its ``run_fold`` partial,
so a table built with other settings (tests' tiny ones) gives its module row those.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import keras

from common.datasets import fma, gtzan, magnatagatune
from common.runner.identity import file_code_version
from common.runner.scheme_module import SchemeModule, SchemeModuleRef, TableInput, build_checked
from common.runner.spec import FoldContext, FoldOutcome, Scheme
from common.training.trainer import TrainingConfig
from papers.crnn_tf.config import PAD_DB
from papers.crnn_tf.protocol import STORE_DTYPE, evaluate, fit_clip_model, run_clip_model_fold, run_transfer_fold
from papers.crnn_tf.tables import prepare_clip

#: ``(outputs, n_outputs)`` of each CRNN-TF dataset (``DatasetSpec.name``): MagnaTagATune's top-50
#: tags (:func:`common.datasets.magnatagatune.index`'s default), FMA medium's 16 genres, GTZAN's 10.
DATASET_OUTPUTS = {magnatagatune.NAME: ("tags", 50), "fma_medium": ("classes", len(fma.GENRES)),
                   gtzan.NAME: ("classes", len(gtzan.GENRES))}


def _reference_row(spec):
    """``(row name, model_config, training, task, epoch_test)`` of the table's CRNN-TF row, or None.

    The row named ``CRNN-TF`` run by :func:`run_clip_model_fold` (builder ``"crnn_tf"``) or by
    :func:`run_transfer_fold` from scratch; without one (Fig. 5), the CRNN-TF clip row fed with the
    most scanners.
    """
    rows = []
    for scheme in spec.paper_trainable():
        run_fold = scheme.run_fold
        func = getattr(run_fold, "func", None)
        if func is run_clip_model_fold and run_fold.args[0] == "crnn_tf":
            _, model_config, training, task = run_fold.args
            rows.append((scheme.name, model_config, training, task, bool(run_fold.keywords.get("epoch_test", False))))
        elif func is run_transfer_fold and run_fold.args[0] == "scratch":
            model_config, training = run_fold.args[3], run_fold.args[4]
            rows.append((scheme.name, model_config, training, "genres", False))
    named = [row for row in rows if row[0] == "CRNN-TF"]
    if named:
        return named[0]
    return max(rows, key=lambda row: len(row[1].directions)) if rows else None


def table_input(spec) -> TableInput | None:
    """What a user's model gets in this CRNN-TF table: one clip spectrogram ``(96, 1360)``; None if not supported.

    Supported: every CRNN-TF table whose clips are :func:`papers.crnn_tf.tables.prepare_clip`'s, of
    a dataset in :data:`DATASET_OUTPUTS` or a user's own collection (``--own-dataset``, whose class
    folders give the genres), with a CRNN-TF clip row (:func:`_reference_row`).
    """
    if spec.paper != "crnn_tf" or getattr(spec.prepare, "func", None) is not prepare_clip:
        return None
    row = _reference_row(spec)
    own = getattr(spec.dataset, "own_collection", None)
    if own is not None:
        dataset_outputs = ("classes", len(own.classes))
    else:
        dataset_outputs = DATASET_OUTPUTS.get(spec.dataset.name)
    if row is None or dataset_outputs is None:
        return None
    _, model_config, _, task, epoch_test = row
    outputs, n_outputs = dataset_outputs
    frames = int(spec.prepare.keywords["frames"])
    features = spec.extractor().config
    seconds = (frames - 1) * features.hop_length / features.sample_rate
    selection = (" Every epoch the test clips are scored too, and the row gets the table's labelled "
                 "'(best epoch on test, as the authors selected)' cells beside the validation-selected ones."
                 if epoch_test else "")
    if outputs == "tags":
        aggregation = ("one model call per clip: its tag probabilities (sigmoid); macro ROC-AUC over the tags with "
                       "a positive and a negative test clip (AUC), Recall@1/3/5/10, NDCG@50, JSC and each tag's AUC "
                       "on the test split, from the checkpoint of the lowest validation loss." + selection)
    else:
        aggregation = ("one model call per clip: its genre probabilities (softmax); accuracy (argmax), macro "
                       "precision, recall and F1, macro and support-weighted one-vs-rest ROC-AUC of the test "
                       "tracks, from the checkpoint of the lowest validation loss." + selection)
    return TableInput(
        shape=(model_config.n_mels, frames),
        meaning=(f"one clip's log-mel spectrogram, {model_config.n_mels} mel bands x {frames} frames (the first "
                 f"{seconds:.0f} s at {features.sample_rate} Hz, hop {features.hop_length}; 10 log10 of the mel power "
                 f"in dB, floor {PAD_DB:.0f} dB, a shorter clip padded with {PAD_DB:.0f} dB; stored as float16, fed as "
                 f"float32); "
                 f"no scaling and no channel axis"),
        outputs="tags" if outputs == "tags" else "classes", n_outputs=n_outputs, aggregation=aggregation)


def table_training(spec) -> TrainingConfig:
    """The training configuration a user's ``TRAINING`` overrides in this table: its CRNN-TF row's
    (:data:`papers.crnn_tf.config.TRAINING`, or the table's settings'). Call for a table that
    :func:`table_input` supports."""
    return _reference_row(spec)[2]


def user_scheme(spec, module: SchemeModule, table_input_: TableInput) -> Scheme:
    """The table row of a user's scheme module (see :func:`common.runner.scheme_module.add_scheme_module`).

    Its ``config`` (part of the run identity) holds the module's code version, the training
    configuration after the module's overrides, the task, whether the test split is scored every
    epoch, the input shape and this adapter's code version.
    """
    reference, _, training, task, epoch_test = _reference_row(spec)
    training = module.training_config(training)
    return Scheme(
        module.name, partial(run_user_fold, module.ref, tuple(table_input_.shape), training, task,
                             epoch_test=epoch_test),
        f"{module.description} (scheme module {module.ref.path}; not the paper's; trained as the {reference} row)",
        config={"scheme_module_code": module.ref.code, "training": training.describe(), "task": task,
                "epoch_test": epoch_test, "input_shape": list(table_input_.shape),
                "adapter_code": file_code_version(Path(__file__))},
        scheme_module=module.ref.path, predictor=fold_model)


def _fold_input(input_shape: tuple, task: str, n_outputs: int) -> TableInput:
    return TableInput(shape=tuple(input_shape), meaning="one clip's log-mel spectrogram",
                      outputs="tags" if task == "tags" else "classes", n_outputs=n_outputs, aggregation="")


def run_user_fold(ref: SchemeModuleRef, input_shape: tuple, training: TrainingConfig, task: str,
                  context: FoldContext, *, epoch_test: bool = False) -> FoldOutcome:
    """Train a user's clip model on one fold and evaluate it, as the table's CRNN-TF row.

    The steps of :func:`papers.crnn_tf.protocol.run_clip_model_fold` (and of
    :func:`~papers.crnn_tf.protocol.run_transfer_fold` from scratch): a fresh model seeded with the
    fold's seed, :func:`~papers.crnn_tf.protocol.fit_clip_model` (the fold's clips in float16
    stores shared with the table's rows, early stopping and the kept checkpoint on validation),
    then :func:`~papers.crnn_tf.protocol.evaluate` on the test clips.

    Args:
        ref: the scheme module (loaded again here, so that shards and Ray workers can run it).
        input_shape: ``(n_mels, n_frames)``: ``(96, 1360)``.
        training: the CRNN-TF row's training configuration with the module's overrides.
        task: ``"tags"`` (Table I, Fig. 5) or ``"genres"`` (Tables II, III).
        context: fold data from the runner (features: ``(n_mels, n_frames)`` float32 per track, dB).
        epoch_test: score the test clips after every epoch too (the table's setting).

    Returns:
        the :class:`FoldOutcome` of :func:`~papers.crnn_tf.protocol.evaluate`, its details with the
        module's file and code version.

    Raises:
        ConfigError: the module changed since the run was planned, or its model does not fit the
            dataset's class or tag count.
    """
    module = ref.load()
    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    model = build_checked(module, _fold_input(input_shape, task, len(context.index.classes)),
                          len(context.index.classes))
    scores, test_ids, details = fit_clip_model(model, context, training, task, epoch_test=epoch_test)
    details.update(scheme_module=ref.path, scheme_module_code=ref.code)
    return evaluate(context, task, test_ids, scores, details)


def fold_model(source):
    """Rebuild a trained fold of a user's row for ``predict`` / ``--export`` (the row's ``predictor``).

    Args:
        source: the fold (:class:`common.inference.fold_model.FoldSource`); its scheme's ``run_fold``
            is ``partial(run_user_fold, SchemeModuleRef, input_shape, TrainingConfig, task)``.

    Returns:
        :class:`common.inference.fold_model.FoldModel` scoring one prepared clip float32
        ``(96, 1360)`` (rounded through float16, as the training stores hold it) to float64
        probabilities: 50 tags (sigmoid) or the genres (softmax).

    Raises:
        ConfigError: the module changed since the run, or the checkpoint does not load.
    """
    from common.inference.fold_model import clip_fold_model

    ref, input_shape, training, task = source.scheme.run_fold.args
    module = ref.load()
    keras.backend.clear_session()
    model = build_checked(module, _fold_input(input_shape, task, len(source.classes)))
    return clip_fold_model(source, model, "tags" if task == "tags" else "classes", STORE_DTYPE, training.batch_size)
