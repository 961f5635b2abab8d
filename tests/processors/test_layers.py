"""The pure core imports no Faust, Kafka, RocksDB, ClickHouse or HTTP code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROCESSORS = Path(__file__).resolve().parents[2] / "processors"
CORE = ["intervals", "histogram", "figures", "session", "handling", "batch", "state_codec",
        "open_index", "completeness", "erasures", "dead_letters", "sink_flusher",
        "held_writes"]
SHELL = ["faust_app", "faust_transport", "faust_records", "faust_stream", "faust_monitor",
         "state_table", "state_store", "watermark_writer", "metrics", "topics", "worker_config",
         "batch_pipeline", "table_batch"]
SHELL_LIBRARIES = {"faust", "mode", "aiokafka", "rocksdict", "clickhouse_connect", "chdb",
                   "prometheus_client", "httpx", "fastapi", "sinks", "ingest", "readapi",
                   "playhead"}


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_imports_no_shell_library(module: str) -> None:
    tree = ast.parse((PROCESSORS / f"{module}.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert not imported & SHELL_LIBRARIES, imported & SHELL_LIBRARIES


def test_every_module_is_core_or_shell_and_the_package_says_which() -> None:
    modules = {path.stem for path in PROCESSORS.glob("*.py") if path.stem != "__init__"}
    assert modules == set(CORE) | set(SHELL), modules ^ (set(CORE) | set(SHELL))
    docstring = (PROCESSORS / "__init__.py").read_text()
    assert all(f"``{module}``" in docstring for module in modules), [
        module for module in modules if f"``{module}``" not in docstring]
