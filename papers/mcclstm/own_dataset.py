"""MCCLSTM Tables 3-5 on a user's own collection (``make own-dataset``; :mod:`common.runner.own_dataset`).

Every MCCLSTM table is single-label classification under stratified 10-fold cross-validation
(Sec. 3: 80/10/10 %), and every trainable row is trained from scratch on the table's own data
with an output layer sized by the dataset's classes (:func:`papers.mcclstm.protocol.run_scheme_fold`
builds the models with ``len(context.index.classes)`` outputs), so all seven rows (CNNs-3, R0-R4,
MCCLSTM) run on any collection of two or more classes. The paper-only rows (numbers quoted from
other papers) are dropped by the runner.
"""

from __future__ import annotations

from common.evaluation.splits import CrossValidation


def rows_left_out(spec) -> dict[str, str] | None:
    """``{}`` (no row left out) for every MCCLSTM table under cross-validation; None for any other table.

    Args:
        spec: a table (:class:`~common.runner.spec.TableSpec`).
    """
    if spec.paper != "mcclstm" or not isinstance(spec.protocol, CrossValidation):
        return None
    return {}
