"""Exceptions raised for bad input, each naming the file or folder and what is wrong.

The policy (see README, "Bad input"): a problem with one track (unreadable, empty, too short)
raises :class:`AudioError`, which the runner catches, records in the run manifest and reports
as an explicit skip; a problem with the dataset as a whole (missing folder, wrong layout, a class
too small for the protocol) raises :class:`DatasetError` and stops the run before any training.
"""

from __future__ import annotations


class ReproError(Exception):
    """Base class of every error this project raises on purpose."""


class AudioError(ReproError):
    """An audio file cannot be used: unreadable, corrupt, empty, or too short.

    Attributes:
        path: the offending file.
        reason: a short human-readable reason (also used in the run manifest).
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(ReproError):
    """A dataset folder is missing, mis-laid, or unusable for the requested protocol."""


class ConfigError(ReproError):
    """A requested table, scheme or setting does not exist or is inconsistent."""
