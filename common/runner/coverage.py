"""How much of the published dataset a run used: the dataset part of a row's ``status``.

A table is a reproduction only when it ran on the whole published dataset. What "whole" means:

- where the paper or the dataset's authors publish per-class counts (GTZAN 10 x 100, Ballroom,
  Soundtracks, ISMIR 2004: ``DatasetIndex.expected_counts``), every class must have exactly its
  published number of usable tracks;
- otherwise (MagnaTagATune, FMA), the table's ``DatasetSpec.published_size``: the number of
  tracks of the full release the table uses; the run must have at least that many usable tracks;
- where neither is known, the dataset is not verified and the status says so;
- a user's own collection in place of the table's dataset (``--own-dataset``) is no published
  dataset at all: its status is ``own dataset: <n> classes, <m> tracks``.

Usable tracks are those left after unreadable files and tracks whose features could not be
computed are skipped, so a full-size folder with a broken file is reported as a subset of one
track less (the manifest lists the file and why).
"""

from __future__ import annotations

from dataclasses import dataclass

#: :attr:`DatasetCoverage.basis` of a run on a user's own collection.
OWN_DATASET = "own dataset"


@dataclass(frozen=True)
class DatasetCoverage:
    """The usable tracks of a run against the published dataset.

    Attributes:
        n_tracks: usable tracks of the run.
        published_tracks: tracks of the full published dataset (None: not known).
        class_differences: ``{class: (found, published)}`` of every class whose count differs
            from its published count (empty where none differs or none is published).
        basis: where ``published_tracks`` comes from: ``"per-class counts"``, ``"release size"``
            or ``"unknown"``; ``"own dataset"`` for a user's own collection.
        n_classes: classes of the run's dataset (used for an own dataset's status), or None.
    """

    n_tracks: int
    published_tracks: int | None
    class_differences: dict
    basis: str
    n_classes: int | None = None

    @property
    def full(self) -> bool:
        """True when the run used the whole published dataset (see the module text)."""
        if self.published_tracks is None:
            return False
        if self.basis == "per-class counts":
            return not self.class_differences
        return self.n_tracks >= self.published_tracks

    def status(self) -> str | None:
        """The dataset part of a row's status; None for the full dataset.

        Returns:
            ``"subset: 100/1000 tracks"`` (fewer tracks than published);
            ``"dataset differs: 1000/1000 tracks, class counts differ from the published"``
            (as many or more tracks, but not the published per-class counts);
            ``"unverified dataset: 40 tracks, no published size"``; ``"own dataset: 3 classes, 30
            tracks"`` for a user's own collection; or None.
        """
        if self.basis == OWN_DATASET:
            return f"own dataset: {self.n_classes} classes, {self.n_tracks} tracks"
        if self.full:
            return None
        if self.published_tracks is None:
            return f"unverified dataset: {self.n_tracks} tracks, no published size"
        if self.n_tracks < self.published_tracks:
            return f"subset: {self.n_tracks}/{self.published_tracks} tracks"
        return (f"dataset differs: {self.n_tracks}/{self.published_tracks} tracks, class counts differ "
                f"from the published")

    def describe(self) -> str:
        """``"full published dataset (1000 tracks)"`` or :meth:`status`."""
        return self.status() or f"full published dataset ({self.n_tracks} tracks)"

    def as_dict(self) -> dict:
        """JSON-able summary for the manifest."""
        return {"usable_tracks": self.n_tracks, "published_tracks": self.published_tracks,
                "published_size_basis": self.basis, "full_published_dataset": self.full,
                "description": self.describe()}


def dataset_coverage(index, dataset_spec=None) -> DatasetCoverage:
    """The coverage of a run's usable index.

    Args:
        index: the :class:`~common.datasets.base.DatasetIndex` the run used (after skipped tracks
            were removed).
        dataset_spec: the table's :class:`~common.runner.spec.DatasetSpec` (its ``published_size``
            is used where the index has no per-class counts); may be None.

    Returns:
        :class:`DatasetCoverage`.
    """
    n_tracks = len(index.tracks)
    if getattr(dataset_spec, "own_collection", None) is not None:
        return DatasetCoverage(n_tracks, None, {}, OWN_DATASET, len(index.classes))
    if index.expected_counts:
        return DatasetCoverage(n_tracks, int(sum(index.expected_counts.values())), dict(index.count_differences()),
                               "per-class counts")
    size = getattr(dataset_spec, "published_size", None)
    if callable(size):
        size = size(index)
    if size is None:
        return DatasetCoverage(n_tracks, None, {}, "unknown")
    return DatasetCoverage(n_tracks, int(size), {}, "release size")
