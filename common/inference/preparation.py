"""Reading a user's audio file through a table's own preprocessing, for ``predict``."""

from __future__ import annotations

from pathlib import Path

from common.datasets.base import Track


def prepare_file(spec, path: str | Path, extractor=None):
    """The table's preprocessing of one audio file: ``spec.prepare(spec.extractor()(path), track)``.

    Args:
        spec: the table.
        path: any file the table's audio loader decodes (WAV, FLAC, OGG, MP3, ...).
        extractor: an instance of ``spec.extractor()`` to reuse (default: a new one).

    Returns:
        what the table's schemes receive as one track's features (e.g. MCCLSTM chunks
        ``(n_chunks, 40, 80)`` float32).

    Raises:
        AudioError: the file cannot be decoded, is empty or too short for the table's features.
    """
    path = Path(path)
    extractor = extractor or spec.extractor()
    track = Track(track_id=path.stem, path=path)
    return spec.prepare(extractor(path), track)
