"""Features and their caches: log-mel spectrograms (:mod:`.logmel`), whole-clip mel-spectrograms
(:mod:`.clip_melgram`), scattering coefficients (:mod:`.scattering`), the per-file feature cache
(:mod:`.cache`) and memory-mapped per-table feature stores and frame files (:mod:`.store`).
"""
