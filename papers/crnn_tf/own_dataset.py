"""CRNN-TF Table III's from-scratch rows on a user's own collection (``make own-dataset``; :mod:`common.runner.own_dataset`).

Table III (Sec. V-G) is GTZAN genre classification under stratified 10-fold cross-validation. Two
of its rows are trained from scratch on the table's own data and run on any collection: ``MFCC +
SVM`` and ``CRNN-TF`` (transfer mode ``scratch``; both size their outputs by the dataset's classes:
:func:`papers.crnn_tf.protocol.run_transfer_fold`, :func:`papers.crnn_tf.protocol.run_mfcc_svm_fold`).
The other three (``Freeze CRNN-TF``, ``Freeze CNN + Fine-tune RNN``, ``Fine-tune CRNN-TF``) start
from the CRNN-TF weights trained on MagnaTagATune for Table I: they are the paper's transfer
experiment, not part of a protocol on another collection, and are left out (named in ``SCHEMES``,
they are refused with that reason).

Tables I, II and Fig. 5 (tagging, FMA's and MagnaTagATune's predefined splits) do not run on an
own collection.
"""

from __future__ import annotations


def rows_left_out(spec) -> dict[str, str] | None:
    """``{transfer row: why it is left out}`` for Table III; None for the other CRNN-TF tables.

    Args:
        spec: a table (:class:`~common.runner.spec.TableSpec`).
    """
    if spec.paper != "crnn_tf" or spec.table_id != "table3_gtzan":
        return None
    return {s.name: (f"starts from the CRNN-TF weights trained on MagnaTagATune for Table I ({s.config['weights']}; "
                     f"transfer mode {s.config['mode']}): the paper's transfer experiment, not run on an own collection")
            for s in spec.schemes if s.run_fold is not None and (s.config or {}).get("mode") not in (None, "scratch")}
