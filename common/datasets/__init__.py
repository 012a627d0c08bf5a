"""Dataset loaders: one module per dataset (layout, class list, file index, citation, download).

Every loader exposes ``index(root) -> DatasetIndex`` (see :mod:`common.datasets.base`), raising
:class:`~common.errors.DatasetError` with the expected layout when ``root`` is missing or
mis-laid, and recording unreadable or unexpected files in the index instead of dropping them
silently.
"""

from common.datasets.base import DatasetIndex, Track

__all__ = ["DatasetIndex", "Track"]
