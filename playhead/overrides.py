"""``playhead --set KEY=VALUE``: settings from the command line, over the environment.

Flags go through the same ``Settings`` object as the PLAYHEAD_* variables, so
a flag is validated exactly like the variable it replaces. KEY may be written
as the field (``topic_partitions``), the variable (``PLAYHEAD_TOPIC_PARTITIONS``)
or with dashes (``topic-partitions``). Lists, sets and objects are JSON, as in
the environment.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, MutableMapping
from typing import Any, get_args, get_origin

from config.settings import ENV_PREFIX, Settings, SettingsError, load_settings, to_env

_JSON_KINDS = (list, dict, set, frozenset)


def field_name(key: str) -> str:
    """The Settings field a KEY names; SettingsError (with a suggestion) if none."""
    name = key.strip().lower().replace("-", "_")
    if name.startswith(ENV_PREFIX.lower()):
        name = name[len(ENV_PREFIX):]
    if name in Settings.model_fields:
        return name
    close = difflib.get_close_matches(name, list(Settings.model_fields), n=1)
    hint = f"; did you mean {close[0]}?" if close else "; see docs/configuration.md"
    raise SettingsError(f"--set {key}: no such setting{hint}")


def _is_json_field(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    kinds = [annotation, *get_args(annotation)]
    return any(get_origin(kind) in _JSON_KINDS or kind in _JSON_KINDS for kind in kinds)


def parse(pairs: Iterable[str]) -> dict[str, Any]:
    """``["kafka_bootstrap=h:9092", ...]`` -> ``{"kafka_bootstrap": "h:9092"}``; later wins."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"--set {pair!r}: expected KEY=VALUE, e.g. gateway_port=8081")
        name = field_name(key)
        if _is_json_field(name):
            try:
                overrides[name] = json.loads(value)
            except json.JSONDecodeError as err:
                raise SettingsError(f"--set {key}: not JSON ({err.msg}): {value!r}") from None
        else:
            overrides[name] = value
    return overrides


def settings_with(pairs: Iterable[str],
                  environ: MutableMapping[str, str] = os.environ) -> Settings:
    """Settings from the environment with ``--set`` pairs on top.

    The overridden values are also written back to this process's
    environment: `playhead up` starts the gateway, worker and warehouse as
    child processes that read their settings from PLAYHEAD_* variables, and
    they must see the flags too.
    """
    overrides = parse(pairs)
    settings = load_settings(**overrides)
    exported = to_env(settings)
    for name in overrides:
        variable = ENV_PREFIX + name.upper()
        if variable in exported:
            environ[variable] = exported[variable]
        else:  # set to None (e.g. kafka_libs_dir=): the child must not see an old value
            environ.pop(variable, None)
    return settings
