"""Audio loading: any file libsndfile decodes, to mono float32 at a requested sample rate.

Decoding is done by :mod:`soundfile` (libsndfile: WAV, AU/SND, AIFF, FLAC, OGG/Vorbis, MP3 and
more); resampling by :mod:`soxr` at its "VHQ" (very high quality) setting.

Bad input (truncated, undecodable, unreadable files). A file whose audio is shorter than its
header declares is *truncated* (an interrupted copy or download) and is refused with
:class:`~common.errors.AudioError` ``"truncated: <where> declares X s, only Y s decodable"``:
the runner skips the track and records the reason in the run manifest, and the dataset loaders
already list such files in ``DatasetIndex.problems`` while indexing (:func:`header_problem`), before
any feature is computed. libsndfile itself decodes what is left of a cut WAV/AU/AIFF without a
word (and reports the shortened length as the file's length), so the declared length is read from
the header here:

- WAV (PCM, float, A-law, u-law), AU/SND and AIFF/AIFC: the header's data size (WAV ``data``
  chunk, AU data size) or frame count (AIFF ``COMM``) against the bytes the file holds; checked
  while indexing and again when decoding. Allowed shortfall: :data:`TRUNCATION_TOLERANCE_S`.
- FLAC: the STREAMINFO total-sample count against what decodes; a cut FLAC usually fails to
  decode part-way, reported as ``"cannot decode audio (FLAC file) past Y s of the X s its FLAC
  STREAMINFO declares: libsndfile reports ..."``. Checked when decoding only (compressed: the
  file size tells nothing).
- MP3: only when the first frame holds a ``Xing``/``Info`` tag with a frame count (LAME and
  libsndfile write one). The decoder removes the encoder's delay and padding, so up to
  :data:`MP3_SLACK_FRAMES` MPEG frames more may be missing. Without such a tag an MP3's length is
  an estimate from its size and first bit rate (several times off for VBR files that start
  quietly), so no truncation check is made. Checked when decoding only.
- OGG/Vorbis and other formats: not checked (libsndfile reads the length from the last page
  present, so a cut file looks whole).

Undecodable files are refused with the file name, its format and libsndfile's own message, with
a hint when that message is misleading (libsndfile's bare ``"System error."``, or ``"File does not
exist"`` for an MP3 with no decodable frame); a file that cannot even be opened gives the
operating system's reason (e.g. permission denied). An ``.au``/``.snd`` file without the AU
header is refused instead of being read, as libsndfile would, as headerless raw bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from common.errors import AudioError

#: File extensions treated as audio when scanning dataset folders.
AUDIO_EXTENSIONS = (".wav", ".au", ".snd", ".flac", ".ogg", ".mp3", ".aif", ".aiff")

#: Largest shortfall (seconds) of the decodable audio against the declared length that is not
#: called truncation (room for writers that round the declared size; 10 ms is far below any
#: analysis window used here).
TRUNCATION_TOLERANCE_S = 0.01

#: MPEG frames an MP3 may decode short of its ``Xing`` frame count: the encoder delay (LAME: 576 +
#: 529 samples) and the end padding (under one frame) that a gapless decoder removes.
MP3_SLACK_FRAMES = 4

#: Hints added to libsndfile messages that mislead on their own (keyed by libsndfile error code).
_LIBSNDFILE_HINTS = {
    2: "an operating-system error while reading it: the file may be truncated, unreadable, or not "
       "an audio file",
    7: "the file exists and is a regular file: libsndfile found no audio stream it can decode in it",
}

#: Bytes per sample of the uncompressed AU encodings (AU header field ``encoding``).
_AU_SAMPLE_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}

#: WAV format tags whose ``nBlockAlign`` is the bytes per frame: PCM, IEEE float, A-law, u-law.
_WAV_FRAME_FORMATS = (1, 3, 6, 7)

#: AIFC compression types that store plain samples (frame size = channels x sample bytes).
_AIFC_PLAIN = {b"NONE": None, b"sowt": None, b"twos": None, b"raw ": None, b"in24": 3, b"in32": 4,
               b"fl32": 4, b"FL32": 4, b"fl64": 8, b"FL64": 8}


@dataclass(frozen=True)
class DeclaredLength:
    """The length of an audio stream as the file's header declares it.

    Attributes:
        frames: frames (samples per channel) the header declares.
        source: where the number comes from, for messages (e.g. ``"WAV 'data' chunk"``).
        stored_frames: frames the file's bytes hold, computed from the file size, for uncompressed
            formats (WAV, AU, AIFF); None where only decoding can tell (FLAC, MP3).
        slack_frames: frames a complete file may decode short of ``frames`` (MP3: encoder delay and
            padding, see :data:`MP3_SLACK_FRAMES`), 0 for the exact formats.
    """

    frames: int
    source: str
    stored_frames: int | None = None
    slack_frames: int = 0

    def is_short(self, frames: int, sample_rate: int) -> bool:
        """Whether ``frames`` falls short of the declared length by more than the tolerance."""
        allowed = self.slack_frames + int(round(TRUNCATION_TOLERANCE_S * sample_rate))
        return frames < self.frames - allowed


def _libsndfile_reason(exc: Exception) -> str:
    """libsndfile's message of ``exc`` (without the file name soundfile prefixes), with a hint."""
    message = getattr(exc, "error_string", None) or str(exc) or type(exc).__name__
    hint = _LIBSNDFILE_HINTS.get(getattr(exc, "code", None), "the file may be truncated, corrupt, or not "
                                                              "audio of this format")
    return f"libsndfile reports {message!r} ({hint})"


def _kind(path: Path, info=None) -> str:
    """``"FLAC file"`` when libsndfile recognised the format, else ``".flac file"`` (the extension)."""
    if info is not None:
        return f"{info.format} file"
    return f"{path.suffix.lower() or 'extension-less'} file"


def _check_readable(path: Path) -> None:
    """Open the file and read a byte, so that an OS error is reported as such (not by libsndfile).

    Raises:
        AudioError: ``"cannot read the file (<OS error>)"``.
    """
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise AudioError(path, f"cannot read the file ({exc})") from None


def _read_info(path: Path, failure: str):
    """libsndfile's header information of ``path``.

    Raises:
        AudioError: ``"<failure> (.ext file): libsndfile reports ..."`` when it cannot be read, or
            ``"no AU header"`` when libsndfile would read the bytes as headerless raw audio.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        raise AudioError(path, f"{failure} ({_kind(path)}): {_libsndfile_reason(exc)}") from None
    if info.format == "RAW":
        raise AudioError(path, f"no {path.suffix.lstrip('.').upper()} header found (libsndfile would read the "
                               f"bytes as headerless raw audio): not an audio file of this format")
    return info


def _riff_length(handle, file_size: int) -> DeclaredLength | None:
    """Declared and stored frames of a RIFF/RIFX WAVE file (``data`` size / ``fmt `` block align)."""
    head = handle.read(12)
    order = "<" if head[:4] == b"RIFF" else ">"
    if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None
    block_align = None
    position = 12
    while position + 8 <= file_size:
        handle.seek(position)
        chunk, size = struct.unpack(order + "4sI", handle.read(8))
        if chunk == b"fmt ":
            fmt = handle.read(min(size, 40))
            if len(fmt) < 16:
                return None
            tag, _, _, _, block_align = struct.unpack(order + "HHIIH", fmt[:14])
            if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
                tag = struct.unpack(order + "H", fmt[24:26])[0]
            if tag not in _WAV_FRAME_FORMATS or not block_align:
                return None
        elif chunk == b"data":
            if block_align is None or size in (0, 0xFFFFFFFF):  # no fmt first, or size left unset
                return None
            stored = (file_size - position - 8) // block_align
            return DeclaredLength(size // block_align, "WAV 'data' chunk", stored_frames=stored)
        position += 8 + size + (size & 1)
    return None


def _au_length(handle, file_size: int) -> DeclaredLength | None:
    """Declared and stored frames of an AU/SND file (header data size / frame size)."""
    head = handle.read(24)
    if len(head) < 24 or head[:4] not in (b".snd", b"dns."):
        return None
    order = ">" if head[:4] == b".snd" else "<"
    offset, size, encoding, _, channels = struct.unpack(order + "5I", head[4:24])
    sample_bytes = _AU_SAMPLE_BYTES.get(encoding)
    if sample_bytes is None or not channels or size == 0xFFFFFFFF:
        return None
    frame_bytes = sample_bytes * channels
    return DeclaredLength(size // frame_bytes, "AU header data size",
                          stored_frames=max(file_size - offset, 0) // frame_bytes)


def _aiff_length(handle, file_size: int) -> DeclaredLength | None:
    """Declared (``COMM`` frame count) and stored (``SSND`` bytes) frames of an AIFF/AIFC file."""
    head = handle.read(12)
    if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        return None
    frames = frame_bytes = data_start = None
    position = 12
    while position + 8 <= file_size and (frames is None or data_start is None):
        handle.seek(position)
        chunk, size = struct.unpack(">4sI", handle.read(8))
        if chunk == b"COMM":
            comm = handle.read(min(size, 22))
            if len(comm) < 8:
                return None
            channels, frames, bits = struct.unpack(">hIh", comm[:8])
            compression = comm[18:22] if head[8:12] == b"AIFC" and len(comm) >= 22 else b"NONE"
            if compression in _AIFC_PLAIN and channels > 0:
                frame_bytes = channels * (_AIFC_PLAIN[compression] or (bits + 7) // 8)
        elif chunk == b"SSND":
            (data_offset,) = struct.unpack(">I", handle.read(4))
            data_start = position + 16 + data_offset
        position += 8 + size + (size & 1)
    if frames is None:
        return None
    stored = (max(file_size - data_start, 0) // frame_bytes) if data_start is not None and frame_bytes else None
    return DeclaredLength(frames, "AIFF 'COMM' chunk", stored_frames=stored)


def _mp3_xing_length(handle, decoder_frames: int) -> DeclaredLength | None:
    """Frames an MP3 declares in a ``Xing``/``Info`` tag of its first frame, or None without one.

    ``decoder_frames`` is the decoder's (mpg123's) length: read from the tag and less the encoder
    delay and padding when a LAME tag gives them; the smaller of it and the tag's count is used.
    """
    head = handle.read(10)
    start = 0
    if head[:3] == b"ID3" and len(head) == 10:  # ID3v2 tag: syncsafe size, optional footer
        start = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F)
        start += 10 if head[5] & 0x10 else 0
    handle.seek(start)
    data = handle.read(4096)
    for at in range(len(data) - 4):
        if data[at] != 0xFF or (data[at + 1] & 0xE0) != 0xE0:
            continue
        header = int.from_bytes(data[at:at + 4], "big")
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        if version == 1 or layer != 1 or (header >> 12) & 15 in (0, 15) or (header >> 10) & 3 == 3:
            continue  # not a Layer III frame header
        mono = (header >> 6) & 3 == 3
        side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
        tag_at = at + 4 + side_info + (0 if header & 0x10000 else 2)  # + CRC when protected
        tag = data[tag_at:tag_at + 12]
        if len(tag) < 12 or tag[:4] not in (b"Xing", b"Info"):
            return None
        flags, frame_count = struct.unpack(">II", tag[4:12])
        if not flags & 1 or frame_count == 0:
            return None
        samples_per_frame = 1152 if version == 3 else 576
        frames = frame_count * samples_per_frame
        frames = min(frames, decoder_frames) if decoder_frames > 0 else frames
        return DeclaredLength(frames, f"MP3 {tag[:4].decode()} tag",
                              slack_frames=MP3_SLACK_FRAMES * samples_per_frame)
    return None


def declared_length(path: str | os.PathLike, info=None) -> DeclaredLength | None:
    """The stream length an audio file's header declares, where the format declares one exactly.

    Reads a few header bytes only (no decoding).

    Args:
        path: the audio file.
        info: its :func:`soundfile.info` (read when None).

    Returns:
        :class:`DeclaredLength` for WAV (PCM, float, A-law, u-law), AU, AIFF/AIFC, FLAC (STREAMINFO
        total samples, ``info.frames``) and MP3 with a ``Xing``/``Info`` frame count; None for other
        formats and where the header leaves the length unset.

    Raises:
        AudioError: the file cannot be read.
    """
    path = Path(path)
    info = info if info is not None else _read_info(path, "cannot read audio header")
    if info.format == "FLAC":
        return DeclaredLength(int(info.frames), "FLAC STREAMINFO") if info.frames > 0 else None
    parsers = {"WAV": _riff_length, "WAVEX": _riff_length, "AU": _au_length, "AIFF": _aiff_length}
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if info.format in parsers:
                return parsers[info.format](handle, size)
            if info.format == "MP3":
                return _mp3_xing_length(handle, int(info.frames))
    except struct.error:
        return None  # a header cut inside a chunk: libsndfile reports it when decoding
    except OSError as exc:
        raise AudioError(path, f"cannot read the file ({exc})") from None
    return None


def _truncation(declared: DeclaredLength, frames: int, sample_rate: int, what: str) -> str:
    return (f"truncated: the {declared.source} declares {declared.frames / sample_rate:.3f} s, "
            f"only {frames / sample_rate:.3f} s {what}")


def _decodable_frames(path: Path) -> int:
    """How many frames decode before libsndfile fails (read in blocks of 1024 frames)."""
    frames = 0
    try:
        with sf.SoundFile(str(path)) as handle:
            while True:
                block = handle.read(1024, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    return frames
                frames += block.shape[0]
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
        return frames


def load_audio(path: str | os.PathLike, sample_rate: int, *, min_duration: float = 0.0,
               band_limit_rate: int | None = None) -> np.ndarray:
    """Load an audio file as a mono signal at ``sample_rate``.

    Multi-channel files are averaged to mono; the signal is resampled with soxr "VHQ" when the
    file's rate differs from ``sample_rate``. Truncated files are refused (module text, "Bad
    input").

    ``band_limit_rate`` makes a file sound as a recording made at that rate would: a file whose
    rate is higher is first resampled to ``band_limit_rate`` (soxr "VHQ", which removes what lies
    above ``band_limit_rate / 2`` Hz), then to ``sample_rate``. ``predict`` uses it so that a user's
    44.1 or 48 kHz recording reaches a model trained on 22,050 Hz GTZAN audio (upsampled to
    44.1 kHz for its features) with the same empty band above 11,025 Hz the model saw in training.

    Args:
        path: audio file (any format libsndfile reads).
        sample_rate: target rate in Hz (e.g. 44100 for MCCLSTM, 12000 for FCN-5).
        min_duration: minimum accepted duration in seconds after loading (0 accepts any
            non-empty file).
        band_limit_rate: Hz, or None (no band limit); see above.

    Returns:
        ``np.ndarray`` of shape ``(n_samples,)``, dtype float32, values nominally in [-1, 1].

    Raises:
        AudioError: the file does not exist, cannot be read or decoded (corrupt or truncated header,
            unsupported format, an ``.au`` without AU header), is truncated (decodes shorter than its
            header declares), holds no samples, holds non-finite samples, or is shorter than
            ``min_duration`` seconds. The message names the file and, for decoding failures, the
            format and libsndfile's message.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file (give the audio files inside it)")
    if not path.is_file():
        raise AudioError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    _check_readable(path)
    info = _read_info(path, "cannot decode audio")
    declared = declared_length(path, info)
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError) as exc:
        kind = _kind(path, info)
        if declared is not None:
            kind += (f") past {_decodable_frames(path) / info.samplerate:.3f} s of the "
                     f"{declared.frames / info.samplerate:.3f} s its {declared.source} declares")
        else:
            kind += ")"
        raise AudioError(path, f"cannot decode audio ({kind}: {_libsndfile_reason(exc)}") from None
    if declared is not None and declared.is_short(data.shape[0], file_rate):
        raise AudioError(path, _truncation(declared, data.shape[0], file_rate, "decodable"))
    if data.shape[0] == 0:
        raise AudioError(path, "audio stream holds no samples")
    signal = data.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(signal)):
        raise AudioError(path, "audio holds NaN or infinite samples")
    if band_limit_rate is not None and file_rate > band_limit_rate:
        signal = soxr.resample(signal, file_rate, band_limit_rate, quality="VHQ").astype(np.float32)
        file_rate = band_limit_rate
    if file_rate != sample_rate:
        signal = soxr.resample(signal, file_rate, sample_rate, quality="VHQ").astype(np.float32)
    duration = signal.shape[0] / sample_rate
    if duration < min_duration:
        raise AudioError(
            path, f"too short: {duration:.3f} s, at least {min_duration:.3f} s needed")
    return signal


def native_sample_rate(path: str | os.PathLike) -> int:
    """The sample rate (Hz) a file was recorded or encoded at, read from its header without decoding.

    Raises:
        AudioError: the header cannot be read.
    """
    try:
        return int(sf.info(str(path)).samplerate)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(path, f"cannot read audio header ({_kind(Path(path))}): "
                               f"{_libsndfile_reason(exc)}") from None


def sample_rate_counts(paths) -> dict[str, int]:
    """How many of ``paths`` were recorded at each sample rate: ``{"22050": 800}`` (keys in Hz, as text for JSON).

    A file whose header cannot be read is counted under ``"unknown"``. The runner stores this in
    every fold record (``training_audio``) for the fold's training tracks, so that ``predict``
    can decode a user's file as the training audio sounded (:func:`load_audio`'s ``band_limit_rate``).
    """
    counts: dict[str, int] = {}
    for path in paths:
        try:
            key = str(native_sample_rate(path))
        except AudioError:
            key = "unknown"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def audio_duration(path: str | os.PathLike) -> float:
    """Duration of an audio file in seconds, read from its header without decoding.

    For a truncated WAV/AU/AIFF this is what the file still holds (libsndfile's count).

    Raises:
        AudioError: the header cannot be read.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(path, f"cannot read audio header ({_kind(Path(path))}): "
                               f"{_libsndfile_reason(exc)}") from None
    return float(info.frames) / float(info.samplerate)


def header_problem(path: str | os.PathLike) -> str | None:
    """Why an audio file cannot be used, judged from its size and header alone, or None if it looks fine.

    Cheap (no decoding; a few header bytes): used by dataset loaders while indexing. Decoding
    errors past the header, and truncated FLAC/MP3 files, are caught later by :func:`load_audio`.

    Returns:
        ``"file is empty (0 bytes)"``, ``"cannot read the file (<OS error>)"``, ``"cannot read audio
        header (<format>): libsndfile reports ..."``, ``"no AU header found ..."``, ``"truncated: the
        <header field> declares X s, only Y s stored"`` (WAV, AU, AIFF), ``"audio stream holds no
        samples"``, or None.
    """
    path = Path(path)
    if os.path.getsize(path) == 0:
        return "file is empty (0 bytes)"
    try:
        _check_readable(path)
        info = _read_info(path, "cannot read audio header")
        declared = declared_length(path, info)
    except AudioError as exc:
        return exc.reason
    if declared is not None and declared.stored_frames is not None \
            and declared.is_short(declared.stored_frames, info.samplerate):
        return _truncation(declared, declared.stored_frames, info.samplerate, "stored in the file")
    if info.frames == 0:
        return "audio stream holds no samples"
    return None
