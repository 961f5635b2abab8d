"""Where the integration tests get Kafka and ClickHouse from.

Two providers hand the suite's fixtures the same values: a
:class:`config.settings.Settings` whose ``kafka_bootstrap`` reaches a broker,
and the HTTP URL of a ClickHouse that speaks the HTTP interface.

* ``local`` (the default) runs what a bare machine can: Kafka from its Maven
  jars (``devkit.local.kafka``) and ``playhead warehouse``, chDB behind
  ClickHouse's HTTP protocol (:mod:`services.local`).
* ``docker`` runs the official ``apache/kafka`` and
  ``clickhouse/clickhouse-server`` images through testcontainers
  (:mod:`services.docker`): the same tests against a real ClickHouse server.

Chosen with ``pytest --services=docker`` or ``PLAYHEAD_TEST_SERVICES=docker``;
the option wins over the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from config.settings import Settings

ENV_VAR = "PLAYHEAD_TEST_SERVICES"
OPTION = "--services"
CHOICES = ("local", "docker")


class SwitchError(ValueError):
    """The switch names no provider; the message says which values exist."""


class Services(Protocol):
    name: str

    def kafka(self, state_dir: Path) -> AbstractContextManager[Settings]:
        """A broker for the whole session; the settings carry its bootstrap address."""
        ...

    def clickhouse(self, state_dir: Path) -> AbstractContextManager[str]:
        """A ClickHouse HTTP URL (credentials in it when the server needs them)."""
        ...


def chosen(option: str | None, environ: Mapping[str, str]) -> str:
    """The provider's name from ``--services`` or, without it, the variable."""
    if option is not None:
        raw, source = option, f"{OPTION}={option}"
    else:
        raw = environ.get(ENV_VAR, "")
        source = f"{ENV_VAR}={raw}"
    value = raw.strip().lower() or "local"
    if value not in CHOICES:
        raise SwitchError(f"{source}: no such test services; choose one of "
                          f"{', '.join(CHOICES)} (local is the default)")
    return value
