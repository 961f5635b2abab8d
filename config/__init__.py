"""Playhead's settings: every component's, validated once at start and passed in.

The bottom of the import graph beside the wire format (``schemas``): the
gateway, the worker, the sink, the read API and the local tooling all read
their settings from here, and this package imports none of them.
"""

from config.settings import (
    ENV_PREFIX,
    Settings,
    SettingsError,
    load_settings,
    settings_table,
    to_env,
)

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "load_settings", "settings_table", "to_env"]
