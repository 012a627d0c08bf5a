"""Audio input: decoding any file to mono float32 at a requested sample rate (:mod:`.decoding`),
with the header checks that find truncated files, and raw-waveform features (:mod:`.waveform`).
"""
