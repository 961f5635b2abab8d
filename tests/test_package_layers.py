"""The top-level packages import one way: no two of them import each other.

An event's path runs one way (wire -> gateway -> worker -> sink -> read
side), and so do the imports: ``schemas`` (the wire format) and ``config``
(settings) at the bottom, ``playhead`` (the command and process entries) at the
top. ``devkit`` (local tooling) sits beside the top: no production package
imports it, and the command loads it only inside functions.
"""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))


PRODUCTION = ("config", "schemas", "control", "http_common", "ingest", "processors", "sinks",
              "readapi", "playhead")


def imports_of(package: str, top_level_only: bool = False) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in (tree.body if top_level_only else ast.walk(tree)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found.update(name.split(".")[0] for name in names)
    return (found & set(PACKAGES)) - {package}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_no_two_top_level_packages_import_each_other() -> None:
    graph = {package: imports_of(package) for package in PACKAGES}
    cycles = [(a, b) for a, b in itertools.combinations(PACKAGES, 2)
              if b in reachable(graph, a) and a in reachable(graph, b)]
    assert cycles == [], f"import cycles between packages: {cycles}; graph {graph}"


def test_the_wire_format_and_settings_import_no_other_package() -> None:
    assert imports_of("schemas") == set()
    assert imports_of("config") == set()
    assert imports_of("http_common") == set()
    assert "playhead" not in set().union(*(imports_of(p) for p in PACKAGES if p != "playhead"))


def test_production_packages_never_load_local_tooling() -> None:
    assert set(PRODUCTION) | {"devkit"} == set(PACKAGES), "a new package: place it here"
    for package in PRODUCTION:
        if package == "playhead":
            # The command's front door registers devkit's sub-commands, lazily.
            assert "devkit" not in imports_of(package, top_level_only=True)
        else:
            assert "devkit" not in imports_of(package), f"{package} imports devkit"
    assert "playhead" not in imports_of("devkit")


def test_a_production_command_loads_only_the_names_of_devkit_s_commands() -> None:
    # What an image runs (`playhead openapi`, and `playhead sql` failing on an absent
    # warehouse, which takes the one-line error path): the parser lists devkit's
    # commands, and nothing of the local platform or the embedded warehouse loads.
    code = """
import contextlib, io, sys
from playhead.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    assert main(["openapi"]) == 0
    assert main(["--set", "clickhouse_url=http://127.0.0.1:9", "sql", "SELECT 1"]) == 1
print(sorted(m for m in sys.modules if m.split(".")[0] == "devkit"))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['devkit', 'devkit.commands']"


def test_the_package_map_in_docs_architecture_lists_what_each_package_imports() -> None:
    # The map newcomers read first (docs/architecture.md, "Packages, and what each may
    # import"): a package importing one its row does not name is a change to the map.
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]* \| ([^|]*) \|$", text, re.M)
    assert sorted(package for package, _ in rows) == PACKAGES
    for index, (package, allowed) in enumerate(rows):
        named = set(re.findall(r"`(\w+)`", allowed))
        if allowed.startswith("all of the above"):
            named |= {above for above, _ in rows[:index]}
        elif allowed.startswith("all but"):
            named = set(PACKAGES) - {package} - named
        assert imports_of(package) <= named, f"{package} imports {imports_of(package) - named}"
