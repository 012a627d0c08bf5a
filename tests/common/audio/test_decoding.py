import re

import numpy as np
import pytest
import soundfile as sf

from common.audio.decoding import audio_duration, header_problem, load_audio
from common.errors import AudioError
from tests.audio_fixtures import remove_xing_frame, truncate, write_audio, write_corrupt


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".au"])
def test_load_formats_to_mono_float32_at_requested_rate(tmp_path, ext):
    path = write_audio(tmp_path / f"clip{ext}", seconds=1.0, sample_rate=22050, channels=2)
    signal = load_audio(path, 44100)
    assert signal.dtype == np.float32 and signal.ndim == 1
    assert abs(signal.size - 44100) <= 2
    assert np.max(np.abs(signal)) < 1.0


def test_resampling_keeps_the_tone_frequency(tmp_path):
    path = write_audio(tmp_path / "tone.wav", seconds=1.0, sample_rate=22050, frequency=1000.0)
    signal = load_audio(path, 12000)
    spectrum = np.abs(np.fft.rfft(signal))
    peak_hz = np.argmax(spectrum) * 12000 / signal.size
    assert abs(peak_hz - 1000.0) < 2.0


def test_missing_empty_corrupt_and_short_files_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav", 22050)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav: file is empty"):
        load_audio(empty, 22050)
    with pytest.raises(AudioError, match="corrupt.wav: cannot decode"):
        load_audio(write_corrupt(tmp_path / "corrupt.wav"), 22050)
    short = write_audio(tmp_path / "short.wav", seconds=0.5)
    with pytest.raises(AudioError, match="too short"):
        load_audio(short, 22050, min_duration=1.0)


def test_audio_duration(tmp_path):
    assert audio_duration(write_audio(tmp_path / "a.wav", seconds=1.5)) == pytest.approx(1.5, abs=1e-3)


# --- truncated and undecodable files (the "Bad input" policy in common.audio.decoding) ------------------------

@pytest.mark.parametrize("ext", [".wav", ".au", ".aiff"])
def test_half_truncated_uncompressed_file_is_refused_naming_declared_and_decodable_durations(tmp_path, ext):
    path = truncate(write_audio(tmp_path / f"trunc{ext}", seconds=2.0, sample_rate=22050))
    held = sf.info(str(path)).frames / 22050  # libsndfile counts what the cut file still holds
    assert 0.9 < held < 1.0
    with pytest.raises(AudioError) as err:
        load_audio(path, 22050)
    message = str(err.value)
    assert message.startswith(f"{path}: truncated")
    assert "declares 2.000 s" in message and f"only {held:.3f} s" in message
    # the cheap check used while indexing sees it too, without decoding
    problem = header_problem(path)
    assert problem.startswith("truncated") and "declares 2.000 s" in problem and f"{held:.3f} s" in problem


def test_truncated_flac_is_refused_naming_declared_and_decodable_durations(tmp_path):
    path = truncate(write_audio(tmp_path / "trunc.flac", seconds=2.0, sample_rate=22050))
    with pytest.raises(AudioError) as err:
        load_audio(path, 22050)
    message = str(err.value)
    assert message.startswith(f"{path}: cannot decode audio (FLAC file) past ")
    assert "of the 2.000 s its FLAC STREAMINFO declares" in message
    assert "libsndfile reports" in message
    decodable = float(re.search(r"past (\d+\.\d+) s of the 2\.000 s", message).group(1))
    assert 0.0 < decodable < 1.5


def test_truncated_mp3_with_a_frame_count_tag_is_refused(tmp_path):
    path = truncate(write_audio(tmp_path / "trunc.mp3", seconds=3.0, sample_rate=22050))
    with pytest.raises(AudioError, match=r"trunc\.mp3: truncated: .*declares 3\.0\d\d s, only 1\.\d+ s"):
        load_audio(path, 22050)


def test_truncated_mp3_behind_an_id3v2_tag_is_refused(tmp_path):
    path = truncate(write_audio(tmp_path / "tagged.mp3", seconds=3.0, sample_rate=44100))
    padding = 5000  # an ID3v2.3 tag of 5000 bytes of padding (size as a syncsafe integer)
    id3 = b"ID3\x03\x00\x00" + bytes([0, 0, padding >> 7, padding & 0x7F]) + bytes(padding)
    path.write_bytes(id3 + path.read_bytes())
    with pytest.raises(AudioError, match=r"tagged\.mp3: truncated: the MP3 Xing tag declares 3\.000 s"):
        load_audio(path, 44100)


def test_mp3_without_a_frame_count_tag_is_not_judged_by_the_estimated_length(tmp_path):
    # VBR: two seconds of silence (lowest bit rate) then noise. Without the tag the decoder estimates
    # the length from the first frame's bit rate, several times the real length; the file is whole.
    rng = np.random.default_rng(0)
    signal = np.concatenate([np.zeros(2 * 22050), 0.5 * rng.standard_normal(4 * 22050)]).astype(np.float32)
    path = tmp_path / "vbr.mp3"
    sf.write(str(path), signal, 22050)
    remove_xing_frame(path)
    assert sf.info(str(path)).frames > 2 * signal.size  # the estimate is far off ...
    loaded = load_audio(path, 22050)  # ... and the file is accepted
    assert abs(loaded.size - signal.size) < 4 * 576  # no gapless trimming without the tag
    assert header_problem(path) is None


@pytest.mark.parametrize("ext", [".wav", ".au", ".aiff", ".flac", ".ogg", ".mp3"])
@pytest.mark.parametrize("channels", [1, 2])
def test_whole_files_of_every_format_are_accepted(tmp_path, ext, channels):
    path = write_audio(tmp_path / f"whole{ext}", seconds=1.7, sample_rate=16000, channels=channels)
    assert header_problem(path) is None
    assert abs(load_audio(path, 16000).size - round(1.7 * 16000)) <= 1


def test_au_file_without_its_header_is_refused_not_read_as_raw_bytes(tmp_path):
    # libsndfile opens an .au/.snd file it cannot recognise as headerless 8-bit raw audio
    path = tmp_path / "garbage.au"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioError, match=r"garbage\.au: .*no AU header"):
        load_audio(path, 8000)
    assert "no AU header" in header_problem(path)


def test_libsndfile_system_error_is_explained(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "clip.wav", seconds=0.5)

    def system_error(*args, **kwargs):
        raise sf.LibsndfileError(2, f"Error opening {str(path)!r}: ")

    monkeypatch.setattr(sf, "info", system_error)
    monkeypatch.setattr(sf, "SoundFile", system_error)
    monkeypatch.setattr(sf, "read", system_error)
    with pytest.raises(AudioError) as err:
        load_audio(path, 22050)
    message = str(err.value)
    assert message.startswith(f"{path}: cannot decode audio (.wav file)")
    assert "libsndfile reports 'System error.'" in message and "truncated" in message
    problem = header_problem(path)
    assert problem.startswith("cannot read audio header") and "'System error.'" in problem


def test_unreadable_file_reports_the_operating_system_error(tmp_path, monkeypatch):
    import common.audio.decoding

    path = write_audio(tmp_path / "clip.wav", seconds=0.5)

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(common.audio.decoding, "open", denied, raising=False)
    with pytest.raises(AudioError, match=r"clip\.wav: cannot read the file \(.*Permission denied"):
        load_audio(path, 22050)
    assert "Permission denied" in header_problem(path)


def test_undecodable_mp3_does_not_claim_the_file_is_missing(tmp_path):
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(AudioError) as err:
        load_audio(path, 22050)
    assert "cannot decode audio (.mp3 file)" in str(err.value)
    assert "the file exists" in str(err.value)


def test_band_limit_removes_what_a_recording_at_that_rate_could_not_hold(tmp_path):
    # a 44.1 kHz file with a 1 kHz and a 15 kHz tone, decoded as a 22,050 Hz recording would sound
    import soundfile as sf

    from common.audio.decoding import load_audio, native_sample_rate, sample_rate_counts

    t = np.arange(44100) / 44100
    path = tmp_path / "two tones.wav"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 15000 * t)).astype(np.float32), 44100)

    def level(signal, hz):
        spectrum = np.abs(np.fft.rfft(signal)) / signal.size
        return spectrum[int(hz)]                      # 1 Hz bins for a 1 s signal at 44.1 kHz

    plain = load_audio(path, 44100)
    limited = load_audio(path, 44100, band_limit_rate=22050)
    assert plain.shape == limited.shape == (44100,)
    assert level(plain, 15000) > 0.1 and level(limited, 15000) < 1e-4
    assert abs(level(limited, 1000) - level(plain, 1000)) < 1e-3
    # a file at or below the band limit is decoded as before
    np.testing.assert_array_equal(load_audio(path, 44100, band_limit_rate=44100), plain)
    assert native_sample_rate(path) == 44100
    assert sample_rate_counts([path, path, tmp_path / "missing.wav"]) == {"44100": 2, "unknown": 1}
