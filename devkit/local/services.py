"""Background processes of the local platform: start detached, find, stop.

Each service runs as ``python -m playhead <name>``, logs to
``<state>/logs/<name>.log`` and leaves its pid in ``<state>/run/<name>.pid``.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings


class ServiceError(RuntimeError):
    """A service did not start or stop; the message points at its log."""


# The children this process started, held until stop() reaps them: a running child's
# Popen dropped early is a ResourceWarning, and a stopped child nobody waits for
# stays a zombie until this process exits.
_children: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _reap_exited() -> None:
    # Children stopped by someone else (`playhead down` in another process) are reaped
    # here at the latest; the ones still running are services meant to outlive us.
    for child in list(_children.values()):
        child.poll()


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    log: Path

    @property
    def running(self) -> bool:
        return self.pid is not None


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    return settings.state_dir / "logs" / f"{name}.log"


def pid_alive(pid: int) -> bool:
    """Whether a process runs under ``pid`` (a zombie does not count)."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:  # poll() also reaps it once it has exited
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A dead process started by another one stays a zombie until its parent
    # reaps it, and a zombie still answers kill(0); ask /proc where it exists.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def status(settings: Settings, name: str) -> ServiceStatus:
    pid_file = _pid_file(settings, name)
    pid = None
    if pid_file.exists():
        recorded = int(pid_file.read_text().strip() or 0)
        if recorded and pid_alive(recorded):
            pid = recorded
        else:
            pid_file.unlink(missing_ok=True)
    return ServiceStatus(name, pid, log_file(settings, name))


def tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start(
    settings: Settings,
    name: str,
    args: list[str],
    ready: Callable[[], bool],
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    marker: Path | None = None,
) -> ServiceStatus:
    """Start ``python -m playhead <args>`` detached unless running; wait for ``ready``.

    ``marker``: a readiness file the service writes. A killed run leaves it
    behind, and ``ready`` would then be true before the new run is, so it is
    removed before starting.
    """
    current = status(settings, name)
    if current.running:
        return current
    if marker is not None:
        marker.unlink(missing_ok=True)
    log = log_file(settings, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "playhead", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the `playhead up` that started it
            env={**os.environ, **(env or {})},
        )
    _children[process.pid] = process
    _pid_file(settings, name).write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _children.pop(process.pid, None)
            _pid_file(settings, name).unlink(missing_ok=True)
            raise ServiceError(
                f"{name} exited with {process.returncode}; its log ({log}) ends with:\n{tail(log)}"
            )
        if ready():
            return status(settings, name)
        time.sleep(0.25)
    stop(settings, name)
    raise ServiceError(f"{name} was not ready within {timeout:.0f}s; see {log}:\n{tail(log)}")


def stop(settings: Settings, name: str, timeout: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; True if something was stopped."""
    current = status(settings, name)
    if current.pid is None:
        return False
    os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(current.pid):
        time.sleep(0.1)
    if pid_alive(current.pid):
        os.kill(current.pid, signal.SIGKILL)
    child = _children.pop(current.pid, None)
    if child is not None:
        child.wait(timeout)
    _pid_file(settings, name).unlink(missing_ok=True)
    return True


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    return check


def file_exists(path: Path) -> Callable[[], bool]:
    return path.exists
