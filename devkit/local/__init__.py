"""Local platform: the real services Playhead starts for itself on a bare machine."""
