"""The Grafana dashboard and Prometheus alerts name only metrics Playhead exports;
the alert rules are checked and unit-tested with promtool (Debian's, see the Makefile)."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import TopicPartition
from conftest import REPO, free_port
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings, to_env
from devkit.local import services
from processors.handling import WorkerCounters
from processors.metrics import Progress, WorkerMetrics

DEPLOY = REPO / "deploy"
PROMTOOL = REPO / ".playhead" / "tools" / "promtool"
# Prometheus' own series, not Playhead's.
BUILTIN = {"up"}
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def names_in(text: str) -> set[str]:
    """Every metric name an exposition text declares or samples."""
    found = set()
    for family in text_string_to_metric_families(text):
        found.add(family.name)
        found.update(sample.name for sample in family.samples)
    return found


def referenced() -> dict[str, set[str]]:
    """Metric names used by each observability file."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = {"alerts.yml": [r["expr"] for g in rules["groups"] for r in g["rules"]]}
    dashboard = json.loads((DEPLOY / "grafana" / "playhead.json").read_text())
    exprs["playhead.json"] = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    out: dict[str, set[str]] = {}
    for source, texts in exprs.items():
        names: set[str] = set()
        for text in texts:
            names.update(re.findall(r"\bplayhead_[a-z0-9_]+", text))
            # Selectors of other series (`up{...}`): only Prometheus' own are allowed.
            names.update(re.findall(r"\b([a-z_][a-z0-9_]*)\{", text))
        out[source] = names
    return out


@pytest.fixture(scope="module")
def gateway_metrics(kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real gateway process's /metrics, after one accepted and one refused request."""
    settings = kafka.model_copy(update={
        "state_dir": tmp_path_factory.mktemp("observability"),
        "events_topic": f"test.{uuid.uuid4().hex[:10]}.events",
        "gateway_port": free_port()})
    from processors.topics import ensure_topics

    ensure_topics(settings)
    try:
        services.start(settings, "gateway", ["gateway"],
                       services.http_ok(f"{settings.gateway_url}/healthz"), env=to_env(settings))
        url = f"{settings.gateway_url}/api/consumption/events"
        httpx.post(url, params={"organizationId": str(uuid.uuid4())}, json={}, timeout=30)
        yield httpx.get(f"{settings.gateway_url}/metrics", timeout=10).text
    finally:
        services.stop(settings, "gateway")


def worker_metrics() -> str:
    # The worker's own collectors (processors/metrics.py), not served: names only.
    progress = Progress(stall_seconds=120.0)
    tp = TopicPartition("playhead.events", 0)
    progress.batch_done({tp: 4}, {tp: 10})  # a lag sample
    metrics = WorkerMetrics(WorkerCounters(), lambda: 0, progress=progress)
    metrics.sink_batch.observe(1)
    metrics.sink_seconds.observe(0.01)
    return generate_latest(metrics.registry).decode()


def test_worker_serves_livez_for_its_liveness_probe() -> None:
    """deploy/k8s/worker.yaml's livenessProbe: /livez on the metrics port, 503 when stalled."""
    now = [1000.0]
    progress = Progress(stall_seconds=120.0, clock=lambda: now[0])
    tp = TopicPartition("playhead.events", 0)
    progress.batch_done({tp: 4}, {tp: 10})
    server = WorkerMetrics(WorkerCounters(), lambda: 0, progress=progress).serve(
        "127.0.0.1", free_port())
    assert server is not None
    url = f"http://127.0.0.1:{server.server_address[1]}/livez"
    try:
        now[0] += 30
        ok = httpx.get(url, timeout=10)
        assert ok.status_code == 200
        assert ok.json() == {"status": "ok", "seconds_since_progress": 30.0, "lag": 5}
        now[0] += 100  # 130 s without a finished batch, 5 messages waiting
        stalled = httpx.get(url, timeout=10)
        assert stalled.status_code == 503  # what the kubelet counts as a failure
        body = stalled.json()
        assert body["status"] == "stalled" and body["lag"] == 5 and body["detail"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_every_referenced_metric_is_exported(gateway_metrics: str) -> None:
    exported = names_in(gateway_metrics) | names_in(worker_metrics())
    assert {"playhead_gateway_requests", "playhead_worker_open_sessions"} <= exported
    for source, names in referenced().items():
        assert names, source
        for name in sorted(names - BUILTIN):
            assert name.startswith("playhead_"), f"{source}: {name} is not Playhead's"
            bare = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
            assert name in exported or bare in exported, f"{source}: {name} is not exported"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL.exists(), "promtool missing: `make promtool` unpacks Debian's"
    return subprocess.run([str(PROMTOOL), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_alert_rules_and_scrape_config_pass_promtool() -> None:
    rules = promtool("check", "rules", "deploy/prometheus/alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = promtool("check", "config", "--syntax-only", "deploy/prometheus/prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_alerts_fire_on_their_series_and_not_on_a_healthy_pipeline() -> None:
    tested = promtool("test", "rules", "tests/deploy/alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((Path(__file__).parent / "alerts_test.yml").read_text())
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tested_alerts = {t["alertname"] for case in cases["tests"] for t in case["alert_rule_test"]}
    # Every alert has a case, except the one on Prometheus' own `up`.
    assert alerts - tested_alerts == {"PlayheadWorkerDown"}


def test_alerts_carry_severity_summary_and_runbooks_that_exist() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    scaling = (REPO / "docs" / "scaling.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", scaling, re.M)}
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        runbook = rule["annotations"].get("runbook")
        if runbook:
            page, anchor = runbook.split("#")
            assert page == "docs/scaling.md" and anchor in anchors, runbook


def test_dashboard_is_provisioned_against_the_prometheus_datasource() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "playhead.json").read_text())
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uid = source["datasources"][0]["uid"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert dashboard["uid"] == "playhead" and len(ids) == len(set(ids)) >= 8
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == uid and t["expr"] for t in panel["targets"])
