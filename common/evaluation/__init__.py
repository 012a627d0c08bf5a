"""Evaluation protocol and metrics: train/validation/test splits and cross-validation folds
(:mod:`.splits`), accuracy and tag ROC-AUC / PR-AUC (:mod:`.metrics`), ranking metrics
(Recall@k, NDCG@k: :mod:`.ranking`) and single-label metrics (:mod:`.multiclass`).
"""
