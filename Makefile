# Playhead: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run stop test lint unit bench clean web mparticle-sdk player-sdk browser promtool netns soak wrk

install: $(STAMP)

$(STAMP): pyproject.toml setup.py schemas/_wire_read.c schemas/_wire_write.c schemas/_slots.h \
		processors/_state_rows.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@$(BIN)/python -m playhead.compiled
	touch $(STAMP)

## make web: the dashboard's charting library from the npm registry (web/package-lock.json)
WEB_STAMP := web/node_modules/.installed
web: $(WEB_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $(WEB_STAMP)

## make mparticle-sdk: mParticle's browser SDKs from the npm registry, loaded unchanged by
## tests/e2e/test_mparticle_sdk.py (tests/e2e/mparticle_sdk/package-lock.json)
MPARTICLE_SDK_STAMP := tests/e2e/mparticle_sdk/node_modules/.installed
mparticle-sdk: $(MPARTICLE_SDK_STAMP)

$(MPARTICLE_SDK_STAMP): tests/e2e/mparticle_sdk/package.json tests/e2e/mparticle_sdk/package-lock.json
	cd tests/e2e/mparticle_sdk && npm ci --no-audit --no-fund
	touch $(MPARTICLE_SDK_STAMP)

## make player-sdk: the unit tests of the browser SDK @playhead/player (clients/player), in
## Node, which needs no install: the SDK has no dependencies
player-sdk:
	cd clients/player && node --test test/*.test.js

## make browser: Debian's chromium and its driver, for the dashboard test
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y chromium chromium-driver)

## make netns: iproute2 and curl from Debian, for the compose rehearsal (tests/deploy), which
## plays deploy/compose.yaml's services in network namespaces (needs root, as CI has)
netns:
	command -v ip >/dev/null && command -v curl >/dev/null || \
		(apt-get update && apt-get install -y iproute2 curl)

## make promtool: Debian's promtool, unpacked from the prometheus package (nothing is
## installed or started), for the alert-rule tests of deploy/prometheus
PROMTOOL := .playhead/tools/promtool
promtool: $(PROMTOOL)

$(PROMTOOL):
	rm -rf .playhead/tools/deb && mkdir -p .playhead/tools/deb
	cd .playhead/tools/deb && (apt-get download prometheus || \
		(apt-get update && apt-get download prometheus))
	dpkg -x .playhead/tools/deb/prometheus_*.deb .playhead/tools/deb/root
	cp .playhead/tools/deb/root/usr/bin/promtool $(PROMTOOL)
	rm -rf .playhead/tools/deb

## make run: install, then start Kafka, the warehouse, the gateway and a worker in the background
run: install web
	$(BIN)/playhead up

stop: install
	$(BIN)/playhead down

## make test: install, lint, then the whole suite on a real broker and the real ClickHouse engine
test: install web mparticle-sdk player-sdk browser promtool netns lint
	$(BIN)/python -m pytest

## make soak: SOAK_RATE sessions/s for SOAK_MINUTES through a throwaway platform; zero loss,
## flat memory (bench/soak.py; not part of make test)
SOAK_RATE ?= 60
SOAK_MINUTES ?= 10
soak: install
	$(BIN)/python bench/soak.py --rate $(SOAK_RATE) --minutes $(SOAK_MINUTES)

## make bench: one worker's events/s beside a raw consumer (batch records from EventProducer,
## then one event per record), close-to-queryable latency, memory per million open sessions,
## the retention query over a million sessions (bench/worker_throughput.py); then one gateway
## process under wrk beside a raw producer (bench/gateway_throughput.py); then the retention
## query over 1M and 10M sessions of one clip, per session and with 29 of 30 days rolled up
## (bench/retention_query.py). Each prints one JSON line; figures in docs/benchmarks.md
bench: install wrk
	$(BIN)/python bench/worker_throughput.py
	$(BIN)/python bench/gateway_throughput.py
	$(BIN)/python bench/retention_query.py

## make wrk: Debian's wrk, the HTTP load generator of the gateway benchmark
wrk:
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

## make unit: every test that needs no service (broker, ClickHouse, pipeline, browser): nothing
## is started; a test that uses one without the integration marker fails (docs/testing.md).
## Property tests check a fifth of their examples here (the unit profile); make test, all.
unit: install promtool
	$(BIN)/python -m pytest -m "not integration" -n auto --hypothesis-profile=unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy config control devkit http_common playhead ingest processors sinks schemas readapi

clean:
	-$(BIN)/playhead down
	rm -rf .playhead
