"""MagnaTagATune-layout trees written by tests: real mp3 clips and a real-format annotations file.

``annotations_final.csv`` is written as the release has it: tab-separated, every field in double
quotes, header ``"clip_id"``, the tag names, ``"mp3_path"``; ``mp3_path`` like ``f/<name>.mp3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.audio_fixtures import write_audio, write_corrupt


@dataclass
class Clip:
    """One row of the generated annotations and its audio.

    Attributes:
        clip_id: the "clip_id" field.
        folder: one of ``0``-``f`` (first component of mp3_path).
        tags: tag names set to 1.
        seconds: audio duration.
        audio: ``"mp3"`` (a real mp3 tone), ``"empty"`` (0 bytes), ``"corrupt"`` (undecodable),
            ``"missing"`` (no file).
        frequency: tone frequency, Hz.
    """

    clip_id: str
    folder: str
    tags: set = field(default_factory=set)
    seconds: float = 29.5
    audio: str = "mp3"
    frequency: float = 440.0

    @property
    def mp3_path(self) -> str:
        return f"{self.folder}/artist_{self.clip_id}-album-01-song-0-29.mp3"


def quoted_row(fields) -> str:
    """A line of the annotation file: fields in double quotes, tab-separated."""
    return "\t".join(f'"{value}"' for value in fields) + "\n"


def write_annotations(path: str | Path, clips: list[Clip], tag_names: list[str]) -> Path:
    """Write ``annotations_final.csv`` for ``clips`` with the tag columns ``tag_names``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [quoted_row(["clip_id", *tag_names, "mp3_path"])]
    for clip in clips:
        lines.append(quoted_row([clip.clip_id, *("1" if t in clip.tags else "0" for t in tag_names),
                                 clip.mp3_path]))
    path.write_text("".join(lines))
    return path


def write_mtat_tree(root: str | Path, clips: list[Clip], tag_names: list[str], sample_rate: int = 16000,
                    audio_subfolder: str = "") -> Path:
    """Write an MTAT-layout tree: annotations, clip_info_final.csv and the clips' audio.

    Args:
        root: the tree's root (``MTAT_DIR``).
        clips: rows and audio to write.
        tag_names: the annotation file's tag columns.
        sample_rate: mp3 sample rate (the release's clips are 16 kHz).
        audio_subfolder: put the clip folders under ``root/<audio_subfolder>`` (e.g. ``"mp3"``).

    Returns:
        ``root``.
    """
    root = Path(root)
    write_annotations(root / "annotations_final.csv", clips, tag_names)
    (root / "clip_info_final.csv").write_text(
        quoted_row(["clip_id", "track_number", "title", "artist", "album", "url", "segmentStart",
                    "segmentEnd", "original_url", "mp3_path"]) +
        "".join(quoted_row([c.clip_id, "1", "song", "artist", "album", "", "0", "29", "", c.mp3_path])
                for c in clips))
    audio_root = root / audio_subfolder if audio_subfolder else root
    for clip in clips:
        path = audio_root / clip.mp3_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if clip.audio == "mp3":
            write_audio(path, clip.seconds, sample_rate, frequency=clip.frequency, seed=int(clip.clip_id))
        elif clip.audio == "empty":
            path.write_bytes(b"")
        elif clip.audio == "corrupt":
            write_corrupt(path)
    return root
