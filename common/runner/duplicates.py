"""Identical audio under several track ids: found from the content hashes, reported per fold.

The run identity already reads the SHA-256 of every audio file (:class:`~common.runner.identity.ContentHashes`);
tracks whose files have the same digest are the same recording, byte for byte. GTZAN itself
holds such exact repeats (Sturm 2013, "The GTZAN dataset: its contents, its faults, their effects
on evaluation, and its future use", the CRNN-TF paper's GTZAN reference [18]), and a copy of a clip
under a new name is one too. The papers' protocol keeps them, so a repeat can be in training and
test of the same fold; this module says how often (:func:`straddling`), and
:meth:`common.evaluation.splits.CrossValidation.keeping_together` gives the split that never
separates a group (``--group-duplicates``).

Only identical files are found: the same samples in another container or encoding (a WAV copy of
an ``.au`` file, different header bytes) are not, since comparing decoded samples would decode
every file on every run, even when its features come from the cache.
"""

from __future__ import annotations

from collections import defaultdict

from common.datasets.base import Track

#: How groups are found, for the manifest.
METHOD = "identical files: equal SHA-256 of the bytes (the run identity's content hashes)"


def identical_audio_groups(tracks: list[Track], digest_of) -> list[list[Track]]:
    """Groups of two or more tracks whose files have the same content digest.

    Args:
        tracks: the dataset's usable tracks.
        digest_of: ``path -> hex digest`` (e.g. :meth:`ContentHashes.of`; each file is hashed once).

    Returns:
        the groups, each sorted by track id, sorted by their first id; empty when every file is unique.

    Raises:
        OSError: a file cannot be read.
    """
    by_digest: dict[str, list[Track]] = defaultdict(list)
    for track in tracks:
        by_digest[digest_of(track.path)].append(track)
    groups = [sorted(group, key=lambda t: t.track_id) for group in by_digest.values() if len(group) > 1]
    return sorted(groups, key=lambda group: group[0].track_id)


def straddling(splits, groups: list[list[Track]]) -> list[dict]:
    """Per fold, how many tracks have an identical copy in another part of the same fold.

    Args:
        splits: the folds (:class:`~common.evaluation.splits.Split`).
        groups: :func:`identical_audio_groups`.

    Returns:
        one dict per fold: ``fold``; ``test_with_copy_in_training``, ``test_with_copy_in_validation``
        (test tracks whose recording is also in that part) and ``validation_with_copy_in_training``;
        ``groups_straddling`` (groups with members in two or more parts).
    """
    group_of = {t.track_id: g for g, group in enumerate(groups) for t in group}
    rows = []
    for split in splits:
        parts = {"train": set(split.train), "validation": set(split.validation), "test": set(split.test)}
        in_part = {name: {group_of[i] for i in ids if i in group_of} for name, ids in parts.items()}

        def with_copy(ids, other: str) -> int:
            return sum(1 for i in ids if i in group_of and group_of[i] in in_part[other])

        rows.append({"fold": split.fold,
                     "test_with_copy_in_training": with_copy(split.test, "train"),
                     "test_with_copy_in_validation": with_copy(split.test, "validation"),
                     "validation_with_copy_in_training": with_copy(split.validation, "train"),
                     "groups_straddling": sum(1 for g in range(len(groups))
                                              if sum(g in members for members in in_part.values()) > 1)})
    return rows


def duplicate_report(groups: list[list[Track]], per_fold: list[dict], grouped_split: bool) -> dict:
    """The manifest's ``duplicate_audio`` entry.

    Args:
        groups: :func:`identical_audio_groups`.
        per_fold: :func:`straddling` of the run's folds.
        grouped_split: whether the run kept each group within one part (``--group-duplicates``).

    Returns:
        ``{"method", "groups": [[{"track_id", "label", "path"}, ...], ...], "n_groups", "n_tracks",
        "group_aware_split", "per_fold"}``.
    """
    return {"method": METHOD,
            "groups": [[{"track_id": t.track_id, "label": t.label, "path": str(t.path)} for t in group]
                       for group in groups],
            "n_groups": len(groups), "n_tracks": sum(len(g) for g in groups),
            "group_aware_split": grouped_split, "per_fold": per_fold}


def group_line(group: list[Track]) -> str:
    """One group of identical files as the console shows it: ``"    a (path) = b (path)  [labelled x, y]"``
    (the labels only when they differ)."""
    labels = sorted({t.label for t in group}, key=str)
    return ("    " + " = ".join(f"{t.track_id} ({t.path})" for t in group)
            + (f"  [labelled {', '.join(map(str, labels))}]" if len(labels) > 1 else ""))


def report_lines(groups: list[list[Track]], per_fold: list[dict], n_folds_in_protocol: int,
                 grouped_split: bool) -> list[str]:
    """Console lines: every group, then the straddling counts per fold (when there are groups).

    Args:
        groups: :func:`identical_audio_groups`.
        per_fold: :func:`straddling`.
        n_folds_in_protocol: for ``fold k/N``.
        grouped_split: whether the split keeps groups together.
    """
    if not groups:
        return ["  identical audio: none (no two tracks have byte-identical files)"]
    lines = [f"  identical audio: {len(groups)} group(s) of byte-identical files, "
             f"{sum(len(g) for g in groups)} tracks:"]
    lines += [group_line(group) for group in groups]
    if grouped_split:
        lines.append("  group-aware split: each group stays within one part of every fold")
    else:
        lines.append("  kept as the papers' protocol does (--group-duplicates / GROUP_DUPLICATES=1 keeps each "
                     "group within one part of every fold):")
    for row in per_fold:
        lines.append(f"    fold {row['fold'] + 1}/{n_folds_in_protocol}: {row['test_with_copy_in_training']} test "
                     f"track(s) with a copy in training, {row['test_with_copy_in_validation']} in validation; "
                     f"{row['validation_with_copy_in_training']} validation track(s) with a copy in training")
    return lines
