"""Training and evaluation of one Table 1 model on the MagnaTagATune split (Sec. 3).

One fold = the standard split (folders 0-b train, c validation, d-f test):

1. the split's cached spectrograms are written once to memory-mapped float16 stores
   (:class:`common.features.store.ClipFeatureStore`, under ``<work>/msecnn/<table>/feature_store``,
   shared by both models and reused while their contents are unchanged) and streamed to the
   model by :func:`common.training.pipeline.clip_dataset`;
2. the model is built and trained with binary cross-entropy and Adam under the configured
   precision policy (mixed float16 on a GPU), XLA, and a ``MirroredStrategy`` when several GPUs
   are present; the checkpoint is the epoch with the lowest validation loss (validation only);
3. the test split's tag probabilities give macro ROC-AUC and PR-AUC over the 50 tags
   (:func:`common.evaluation.metrics.macro_roc_auc`, :func:`common.evaluation.metrics.macro_pr_auc`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable

import keras
import numpy as np

from common.models.fcn import FCNConfig
from common.features.store import split_feature_stores, table_store_root
from common.evaluation.metrics import evaluable_tags, macro_pr_auc, macro_roc_auc
from common.training.pipeline import clip_dataset
from common.runner import FoldContext, FoldOutcome
from common.training.trainer import TrainingConfig, distribution_strategy, precision_policy, train
from papers.msecnn.models import build_model


def tag_scores(model: keras.Model, features, batch_size: int) -> np.ndarray:
    """Tag probabilities of every clip, float32 ``(n_clips, n_tags)``, in clip order."""
    return np.asarray(model.predict(clip_dataset(features, None, batch_size, shuffle=False), verbose=0),
                      dtype=np.float32)


def test_metrics(evidence: dict) -> dict:
    """Table 1's metrics from a fold's test evidence (also applied to bootstrap resamples of it).

    Args:
        evidence: ``{"y_true": uint8 (n_clips, n_tags), "scores": float32 (n_clips, n_tags)}``.

    Returns:
        ``{"roc_auc", "pr_auc"}``: macro averages over the tags with a positive and a negative clip
        (:func:`common.evaluation.metrics.macro_roc_auc`, :func:`~common.evaluation.metrics.macro_pr_auc`).
    """
    return {"roc_auc": macro_roc_auc(evidence["y_true"], evidence["scores"]),
            "pr_auc": macro_pr_auc(evidence["y_true"], evidence["scores"])}


def run_model_fold(model_name: str, model_config: FCNConfig, training: TrainingConfig, store_dtype: str,
                   context: FoldContext) -> FoldOutcome:
    """Train ``model_name`` on the training split and measure test ROC-AUC and PR-AUC.

    Args:
        model_name: ``"MsE-CNN"`` or ``"FCN-5"``.
        model_config: network shape.
        training: optimiser, schedule and acceleration settings.
        store_dtype: dtype of the memory-mapped feature stores (``"float16"`` / ``"float32"``).
        context: fold data from the runner (features: ``(n_mels, n_frames)`` arrays per clip).

    Returns:
        ``FoldOutcome(metrics={"roc_auc", "pr_auc"}, details=..., evidence=...)``; the evidence is
        the test clips' targets and scores (:func:`test_metrics` of it gives the metrics; the runner
        stores it beside the fold record for the bootstrap interval); details hold the clip counts per split, the validation metrics, epochs, throughput, parameter count, the
        precision policy and the tags left out of the test averages (no positive test clip).
    """
    return run_tagging_fold(lambda n_tags: build_model(model_name, n_tags, model_config), model_name, training,
                            store_dtype, context, extra_details={"model_config": asdict(model_config)})


def run_tagging_fold(build: Callable[[int], keras.Model], model_name: str, training: TrainingConfig,
                     store_dtype: str, context: FoldContext, extra_details: dict | None = None) -> FoldOutcome:
    """One Table 1 fold of any clip tagging model: the steps of the module text with the model from ``build``.

    Args:
        build: ``n_tags -> Keras model`` mapping a batch of clips ``(batch, n_mels, n_frames)`` float32
            to tag probabilities ``(batch, n_tags)``; called inside the precision policy and the
            distribution strategy's scope.
        model_name: the row's name (``details.model``).
        training: training settings.
        store_dtype: dtype of the memory-mapped feature stores.
        context: fold data from the runner.
        extra_details: added to the fold record's details (e.g. the model configuration).

    Returns:
        as :func:`run_model_fold`.
    """
    split = context.split
    n_tags = len(context.index.classes)
    parts = {"train": split.train, "validation": split.validation, "test": split.test}
    root = table_store_root(context.work_dir)
    stores = split_feature_stores(split, context.features, root, store_dtype)
    targets = {part: context.targets(ids) for part, ids in parts.items() if ids}

    keras.backend.clear_session()
    keras.utils.set_random_seed(context.seed)
    # "roc_auc_keras" is a training log only (Keras' 200-threshold approximation, counting tags
    # without positives); the table's metrics are computed with scikit-learn below.
    strategy = distribution_strategy()
    with precision_policy(training) as policy, strategy.scope():
        model = build(n_tags)
        train_ds = clip_dataset(stores["train"].features, targets["train"], training.batch_size, shuffle=True,
                                seed=context.seed)
        val_ds = (clip_dataset(stores["validation"].features, targets["validation"], training.batch_size,
                               shuffle=False) if "validation" in stores else None)
        result = train(model, train_ds, val_ds, training, loss="binary_crossentropy",
                       metrics=[keras.metrics.AUC(multi_label=True, num_labels=n_tags, name="roc_auc_keras")],
                       n_train_examples=len(split.train), checkpoint_path=context.work_dir / "best.weights.h5",
                       log_dir=context.work_dir / "tensorboard", epochs=context.epochs, verbose=context.verbose)
        test_scores = tag_scores(model, stores["test"].features, training.batch_size)
        val_scores = (tag_scores(model, stores["validation"].features, training.batch_size)
                      if "validation" in stores else None)
    context.work_dir.mkdir(parents=True, exist_ok=True)
    np.save(context.work_dir / "test_scores.npy", test_scores)
    y_test = targets["test"]
    evaluable = evaluable_tags(y_test)
    classes = context.index.classes
    details = {
        "model": model_name, "model_parameters": int(model.count_params()),
        "n_clips": {part: len(ids) for part, ids in parts.items()},
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "train_seconds": result.seconds,
        "train_clips_per_second": result.examples_per_second,
        "precision_policy": policy, "jit_compile": training.jit_compile, "xla": bool(model.jit_compile),
        "replicas": int(strategy.num_replicas_in_sync),
        "tags": list(classes), "test_tags_evaluated": int(evaluable.sum()),
        "test_tags_left_out": [t for t, ok in zip(classes, evaluable) if not ok],
        "test_scores_file": str(context.work_dir / "test_scores.npy"), "test_ids": list(split.test),
        "feature_store": str(root), "store_dtype": store_dtype,
        "history": result.history, **(extra_details or {}),
    }
    if val_scores is not None and evaluable_tags(targets["validation"]).any():
        details["validation_roc_auc"] = macro_roc_auc(targets["validation"], val_scores)
        details["validation_pr_auc"] = macro_pr_auc(targets["validation"], val_scores)
    evidence = {"y_true": np.asarray(y_test > 0.5, dtype=np.uint8), "scores": test_scores}
    return FoldOutcome(metrics=test_metrics(evidence), details=details, evidence=evidence)
