"""The suite's services as a pytest plugin: the ``--services`` switch, the
``kafka`` and ``warehouse_url`` fixtures from the chosen provider, and the
rule that a test using a service is marked ``integration``.

The rule is what keeps ``make unit`` (``-m "not integration"``) fast and free
of services: a test that forgets the marker fails before anything starts,
with a message saying what to add.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.settings import Settings
from services import ENV_VAR, OPTION, Services, SwitchError, chosen

# Fixtures that start a service, and what they start. Fixtures built on them
# (a module's gateway over `kafka`, say) are covered: pytest lists a test's
# fixtures transitively.
SERVICE_FIXTURES: dict[str, str] = {
    "kafka": "a Kafka broker",
    "warehouse_url": "a ClickHouse server",
    "pipeline": "a started pipeline (gateway, worker, Kafka, ClickHouse)",
}

PROVIDER = pytest.StashKey[Services]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        OPTION, dest="playhead_services", default=None, metavar="local|docker",
        help=("where integration tests get Kafka and ClickHouse: local (default; Kafka from "
              "Maven jars, chDB behind `playhead warehouse`) or docker (the official images "
              f"through testcontainers). Also {ENV_VAR}."))


def pytest_configure(config: pytest.Config) -> None:
    try:
        name = chosen(config.getoption("playhead_services"), os.environ)
    except SwitchError as err:
        raise pytest.UsageError(str(err)) from None
    if name == "docker":
        from services.docker import DockerServices, docker_problem

        # At once, before collection: not half an hour later at the first integration test.
        problem = docker_problem()
        if problem is not None:
            raise pytest.UsageError(problem)
        config.stash[PROVIDER] = DockerServices()
    else:
        from services.local import LocalServices

        config.stash[PROVIDER] = LocalServices()


def pytest_report_header(config: pytest.Config) -> str:
    return f"playhead test services: {config.stash[PROVIDER].name}"


def unmarked_service_use(item: pytest.Item) -> str | None:
    """Why ``item`` must carry the integration marker and does not; None when it is fine."""
    if item.get_closest_marker("integration") is not None:
        return None
    used = [name for name in SERVICE_FIXTURES if name in getattr(item, "fixturenames", ())]
    if not used:
        return None
    what = ", ".join(f"`{name}` ({SERVICE_FIXTURES[name]})" for name in used)
    return (f"{item.nodeid} uses {what} but is not marked integration, so `make unit` "
            "would start services. Add `@pytest.mark.integration` to the test, or "
            "`pytestmark = pytest.mark.integration` to its module.")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture is set up: the broker is never started for a test that fails here.
    problem = unmarked_service_use(item)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"this test starts {what} but is not marked integration. Add "
                    "`@pytest.mark.integration` to it (or `pytestmark = pytest.mark.integration` "
                    "to its module) so `make unit` stays free of services.", pytrace=False)
    return refuse


@pytest.fixture(autouse=True)
def _services_need_the_integration_marker(request: pytest.FixtureRequest,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule for services started without the fixtures above, where they start
    in this process (a subprocess that starts one is not seen)."""
    if request.node.get_closest_marker("integration") is not None:
        return
    import clickhouse_connect
    from selenium import webdriver

    from devkit.local import services
    from devkit.local.kafka import KafkaBroker

    monkeypatch.setattr(KafkaBroker, "up", _refuse("a Kafka broker"))
    monkeypatch.setattr(services, "start", _refuse("a Playhead service process"))
    monkeypatch.setattr(clickhouse_connect, "get_client",
                        _refuse("a ClickHouse client (chDB or a server)"))
    monkeypatch.setattr(webdriver, "Chrome", _refuse("Chromium"))


@pytest.fixture(scope="session")
def kafka(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with request.config.stash[PROVIDER].kafka(tmp_path_factory.mktemp("kafka")) as settings:
        yield settings


@pytest.fixture(scope="session")
def warehouse_url(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ClickHouse HTTP URL: ``playhead warehouse`` in its own process, or a server container."""
    provider = request.config.stash[PROVIDER]
    with provider.clickhouse(tmp_path_factory.mktemp("warehouse")) as url:
        yield url
