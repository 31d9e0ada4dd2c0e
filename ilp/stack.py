"""A small process supervisor for `ilp up`: start services, wait for health, stop every process.

Each service runs in its own session (`start_new_session=True`), so a terminal's Ctrl-C reaches
only `ilp up`, which then stops the services itself in reverse order: SIGTERM to each process
group, a grace period, then SIGKILL to the group and to every descendant seen while it ran
(Prefect's runner starts each flow run in a session of its own, so a process group alone would
miss them). Output goes to one log file per service under `<data_dir>/logs/`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


class StackError(RuntimeError):
    """Something `ilp up` cannot continue from; the message is one line for the operator."""


# -- ports ----------------------------------------------------------------------------------


def port_problem(host: str, port: int) -> str | None:
    """None if `host:port` can be bound now, else why not (e.g. "already in use")."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: a socket left in TIME_WAIT by a previous run is no obstacle.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "already in use"
            return exc.strerror or str(exc)
    return None


def check_ports(wanted: Sequence[tuple[str, str, int]]) -> list[str]:
    """One line per unusable port among (what, host, port) triples, duplicates included."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for what, host, port in wanted:
        if not 0 < port < 65536:
            problems.append(f"{what} port {port} is not a valid port")
            continue
        if port in seen:
            problems.append(f"{what} port {port} is also the {seen[port]} port")
            continue
        seen[port] = what
        problem = port_problem(host, port)
        if problem:
            problems.append(f"{what} port {port} on {host} is {problem}")
    return problems


# -- processes ------------------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) for every live process (Linux /proc)."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ..."; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 4 or fields[0] == "Z":
            continue
        table[int(entry)] = (int(fields[1]), int(fields[3]))
    return table


def descendants(root: int) -> set[int]:
    """Every live process below `root` (children, grandchildren, ...) or in its session."""
    if not os.path.isdir("/proc"):
        return set()
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_ppid, sid) in table.items() if sid == root and pid != root}
    stack = [root, *found]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] != b"Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    seen: set[int] = field(default_factory=set)  # descendants observed while it ran

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


class Supervisor:
    """Starts processes in their own sessions and stops all of them, children included."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.services: list[Service] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Service:
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def run(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], timeout: float
    ) -> tuple[int, str]:
        """Run a one-shot command to completion (stopped with the rest on Ctrl-C).

        Returns (exit code, its output)."""
        service = self.start(name, argv, env)
        start = service.log_path.stat().st_size
        try:
            code = service.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop_service(service)
            raise StackError(f"{name} did not finish within {timeout:.0f}s") from None
        finally:
            self._forget(service)
        with open(service.log_path, "rb") as f:
            f.seek(start)
            output = f.read().decode(errors="replace")
        return code, output.split("\n", 2)[-1] if output.startswith("\n---") else output

    def _forget(self, service: Service) -> None:
        if not service.running():
            self.stop_service(service)  # stray children of a finished command
            with contextlib.suppress(ValueError):
                self.services.remove(service)

    def watch(self) -> None:
        """Remember the current descendants of each service (called periodically)."""
        for service in self.services:
            if service.running():
                service.seen |= descendants(service.pid)

    def dead(self) -> Service | None:
        """A long-running service that has exited, if any."""
        return next((s for s in self.services if not s.running()), None)

    def stop_service(self, service: Service, grace: float = 10.0) -> None:
        pids = service.seen | descendants(service.pid)
        if service.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while service.running() and time.monotonic() < deadline:
                pids |= descendants(service.pid)
                time.sleep(0.1)
        pids |= descendants(service.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.pid, signal.SIGKILL)
        for pid in pids:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(timeout=5)
        # Wait (briefly) for the stragglers to disappear, so "stopped" means stopped.
        deadline = time.monotonic() + 5
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop_all(self, grace: float = 10.0, report: Callable[[str], None] | None = None) -> None:
        """Stop every service, last started first."""
        self.watch()
        for service in reversed(self.services):
            if report:
                report(f"stopping {service.name} (pid {service.pid})")
            self.stop_service(service, grace)
        self.services.clear()


# -- health ---------------------------------------------------------------------------------


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    service: Service | None = None,
    interval: float = 0.2,
) -> None:
    """Poll `check` until it is true; fail early if `service` exits, or after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if service is not None and not service.running():
            raise StackError(
                f"{service.name} exited with code {service.process.returncode} while waiting "
                f"for {what}; see {service.log_path}:\n{service.log_tail()}"
            )
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            tail = f":\n{service.log_tail()}" if service else ""
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(interval)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(url, timeout=2.0).status_code == 200

    return check
