"""deploy/: Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate
ships them, so this works offline), the compose file against the compose-spec schema
(shipped in check-jsonschema), and the references between them and Playhead itself:
commands, settings, probe paths, ports, volumes, files."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import REPO

from config.settings import Settings, load_settings
from ingest.app import create_app as gateway_app
from playhead.cli import _parser
from readapi.app import create_app as api_app

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES = "1.33.0"  # the oldest release still supported upstream when this was written
FAUST_VARIABLES = {"BROKER_SESSION_TIMEOUT", "TABLE_STANDBY_REPLICAS",
                   "BROKER_HEARTBEAT_INTERVAL"}


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


def workload(name: str) -> dict[str, Any]:
    return next(d for d in manifests() if d["metadata"]["name"] == name
                and d["kind"] in ("Deployment", "StatefulSet"))


def config_env() -> dict[str, str]:
    """What every pod gets from the ConfigMap and the Secret."""
    env: dict[str, str] = {}
    for doc in of_kind("ConfigMap"):
        env.update(doc["data"])
    for doc in of_kind("Secret"):
        env.update(doc["stringData"])
    return env


def settings_from(env: dict[str, str]) -> Settings:
    """Settings as a pod would load them (only PLAYHEAD_* count, Faust's are known)."""
    unknown = {k for k in env if not k.startswith("PLAYHEAD_")} - FAUST_VARIABLES
    assert not unknown, f"variables nothing reads: {unknown}"
    fields = {k.removeprefix("PLAYHEAD_").lower(): v for k, v in env.items()
              if k.startswith("PLAYHEAD_")}
    assert set(fields) <= set(Settings.model_fields), set(fields) - set(Settings.model_fields)
    for name, value in list(fields.items()):
        if Settings.model_fields[name].annotation not in (str, int, float, bool):
            fields[name] = json.loads(value) if value.strip()[:1] in "[{" else value
    return load_settings(**fields)


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml")
                                        if p.name != "kustomization.yaml"))
def test_manifest_is_valid_kubernetes(path: str) -> None:
    for doc in yaml.safe_load_all((K8S / path).read_text()):
        # strict: unknown fields (a typo'd probe, a misplaced key) fail too.
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml")
                                    if p.name != "kustomization.yaml")


def test_every_container_has_resources_probes_and_a_real_command() -> None:
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for doc in of_kind("Deployment") + of_kind("StatefulSet"):
        pod = doc["spec"]["template"]["spec"]
        for container in pod["containers"]:
            where = f"{doc['metadata']['name']}/{container['name']}"
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(limits) & set(requests), where
            assert "readinessProbe" in container and "livenessProbe" in container, where
            assert container["args"][0] in commands, where
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                assert port is None or port in ports, f"{where} {probe} port {port}"
        for container in pod.get("initContainers", []):
            assert container["args"][0] in commands


def _paths(app: Any) -> set[str]:
    return {getattr(route, "path", "") for route in app.routes}


def test_probes_name_paths_the_apps_serve() -> None:
    settings = Settings()
    served = {"playhead-gateway": _paths(gateway_app(settings)),
              "playhead-api": _paths(api_app(settings))}
    gateway = workload("playhead-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for name, paths in served.items():
        container = workload(name)["spec"]["template"]["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] in paths, f"{name} {probe}"


def test_configuration_is_valid_playhead_settings() -> None:
    settings = settings_from(config_env())
    assert settings.topic_partitions >= workload("playhead-worker")["spec"]["replicas"]


def test_worker_keeps_its_state_on_its_own_volume_and_signals_readiness() -> None:
    worker = workload("playhead-worker")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    env = {**config_env(), **{e["name"]: e["value"] for e in container["env"]}}
    settings = settings_from(env)
    claims = {c["metadata"]["name"] for c in worker["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(settings.state_dir)] in claims
    assert container["readinessProbe"]["exec"]["command"] == [
        "test", "-f", str(settings.worker_ready_file)]
    assert env["PLAYHEAD_METRICS_HOST"] == "0.0.0.0"
    assert container["ports"][0]["containerPort"] == settings.metrics_port


def test_worker_liveness_restarts_a_stalled_worker_but_rides_out_a_brief_outage() -> None:
    container = workload("playhead-worker")["spec"]["template"]["spec"]["containers"][0]
    env = {**config_env(), **{e["name"]: e["value"] for e in container["env"]}}
    settings = settings_from(env)
    live = container["livenessProbe"]
    # /livez on the metrics port (tests/deploy/test_observability.py checks the worker
    # serves it): 503 once messages wait and no batch finished for stall_seconds.
    assert live["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert settings.stall_seconds == 120
    # Restarted after 5 to 10 minutes without progress: a ClickHouse outage of a few
    # minutes costs no restart, a wedged worker does not hold its partitions for long.
    restart_after = settings.stall_seconds + live["periodSeconds"] * live["failureThreshold"]
    assert 300 <= restart_after <= 600, restart_after
    assert live["timeoutSeconds"] < live["periodSeconds"]
    # Liveness only counts once the worker has started: recovery finishes no batch.
    marker = ["test", "-f", str(settings.worker_ready_file)]
    startup = container["startupProbe"]
    assert startup["exec"]["command"] == marker
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_selectors_match_their_pods() -> None:
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in of_kind("Deployment") + of_kind("StatefulSet")}

    def matched(selector: dict[str, str]) -> list[str]:
        return [n for n, labels in pods.items() if selector.items() <= labels.items()]

    for service in of_kind("Service"):
        assert len(matched(service["spec"]["selector"])) == 1, service["metadata"]["name"]
    for budget in of_kind("PodDisruptionBudget"):
        assert len(matched(budget["spec"]["selector"]["matchLabels"])) == 1
    for doc in of_kind("Deployment") + of_kind("StatefulSet"):
        assert doc["spec"]["selector"]["matchLabels"].items() <= pods[
            doc["metadata"]["name"]].items()
    targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind("HorizontalPodAutoscaler")}
    assert targets == {"playhead-gateway"}
    assert {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
            for b in of_kind("PodDisruptionBudget")} == set(pods)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def test_compose_file_matches_the_compose_spec() -> None:
    # Only check-jsonschema's copy of the schema is used, found without importing the
    # package (its CLI wants a newer click than faust allows).
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec and spec.submodule_search_locations
    package = Path(next(iter(spec.submodule_search_locations)))
    schema = json.loads((package / "builtin_schemas/vendor/compose-spec.json").read_text())
    jsonschema.validate(compose(), schema, cls=jsonschema.Draft202012Validator)


def test_compose_references_resolve() -> None:
    spec = compose()
    services, volumes = spec["services"], set(spec.get("volumes") or {})
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            elif ":" in mount:
                assert source in volumes, f"{name} uses undeclared volume {source}"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()
        if service.get("image", "").startswith("playhead:"):
            run = service.get("command") or service["entrypoint"][-1].split()[:2][1:]
            assert run[0] in commands, f"{name}: playhead {run[0]}?"
            settings_from({k: v for k, v in service["environment"].items()})
    assert services["gateway"]["ports"] == ["127.0.0.1:8080:8080"]


def test_dockerfile_copies_what_exists() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(.+)$", dockerfile, re.M)
    assert copies
    for line in copies:
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    assert Path(DEPLOY / "Dockerfile.dockerignore").exists()


def test_the_image_holds_every_package_the_project_installs() -> None:
    # A package left out builds fine and fails only when a container imports it.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = {line.split()[1].rstrip("/") for line in
              re.findall(r"^COPY (?!--from).+$", dockerfile, re.M)}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    installed = {pattern.rstrip("*") for pattern in
                 project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert installed <= copied, f"deploy/Dockerfile does not COPY {sorted(installed - copied)}"
    assert {"clients/player/src", "clients/player/demo"} <= copied  # the read API's /demo


def test_final_days_are_rolled_up_on_a_schedule_by_a_real_command() -> None:
    from playhead.rollup_cli import _rollup

    [cron] = of_kind("CronJob")
    spec = cron["spec"]
    # Each run builds what became final since the last; Forbid saves the work of
    # two at once (which would still count once, tests/playhead/test_rollup_runners.py).
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    minutes = int(spec["schedule"].split()[0].removeprefix("*/"))
    assert job["activeDeadlineSeconds"] < minutes * 60  # a run gives way to the next
    [container] = job["template"]["spec"]["containers"]
    args = _parser().parse_args(container["args"])
    assert args.run is _rollup and args.every is None and args.through is None
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    settings_from(config_env())
    # On compose, one long-running runner does the same.
    service = compose()["services"]["rollup"]
    runner = _parser().parse_args(service["command"])
    assert runner.run is _rollup and runner.every and runner.through is None
    assert "profiles" not in service  # runs with `up`, as the workers do
