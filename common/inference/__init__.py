"""Applying a trained scheme to one's own audio and exporting it (``make predict``).
"""
