"""Playhead: consumption analytics for audio and video players."""

__version__ = "0.1.0"
