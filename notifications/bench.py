"""Throughput check: N notifications through real Apprise into the local sink.

`python -m notifications.bench 10000` or `deliver_many(10_000)` from the benchmark.
One Apprise object is reused and a small thread pool sends concurrently. Unless a sink URL is
given, a sink is started in its own process (as `make up` runs it) on a free port.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import apprise

from notifications.apprise_config import add_staff_target, staff_tag
from notifications.digest import DigestItem, group_into_digests
from notifications.links import LinkBuilder
from notifications.render import render_digest


@dataclass(frozen=True)
class ThroughputResult:
    n: int
    ok: int
    failed: int
    seconds: float
    stored: int  # messages the sink recorded during the run

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds else float("inf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _state(base: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base}/_control/state", timeout=5) as r:
        return dict(json.load(r))


def _wait_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sink exited with {proc.returncode}")
        try:
            _state(base)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sink at {base} did not come up in {timeout}s")


def _sample_message() -> tuple[str, str]:
    items = [
        DigestItem(i, kind, f"A.B. #{1000 + i}", date(2025, 9, 8 + i), lvl, None, 1, lvl)
        for i, (kind, lvl) in enumerate([("welcome_note", 2), ("q1_note", 1), ("synopsis", 0)])
    ]
    links = LinkBuilder("bench-secret", "http://127.0.0.1:8700", datetime(2030, 1, 1, tzinfo=UTC))
    digest = group_into_digests(
        {1: items}, window_start=datetime(2025, 9, 15, 11, tzinfo=UTC), links=links
    )[0]
    message = render_digest(digest, html=False)
    return message.title, message.body


def deliver_many(
    n: int = 10_000, *, url: str | None = None, workers: int = 4, directory: str | None = None
) -> ThroughputResult:
    """Send `n` digest-sized messages via Apprise to `url` (a `json://` sink target) or to a
    sink started here in a subprocess. Returns counts and wall time of the sending alone."""
    proc: subprocess.Popen[bytes] | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    base: str | None = None
    if url is None:
        if directory is None:
            tmp = tempfile.TemporaryDirectory(prefix="ilp-sink-bench-")
            directory = tmp.name
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifications.sink", "--port", str(port), "--dir", directory],
            stdout=subprocess.DEVNULL,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        base = f"http://127.0.0.1:{port}"
        url = f"json://127.0.0.1:{port}/messages"
    before = 0
    try:
        if base:
            _wait_up(base, proc)  # type: ignore[arg-type]
            before = int(_state(base)["count"])  # type: ignore[call-overload]
        apobj = apprise.Apprise()
        add_staff_target(apobj, 1, url)
        tag = staff_tag(1)
        title, body = _sample_message()

        def one(i: int) -> bool:
            return bool(apobj.notify(body=body, title=f"{title} #{i}", tag=tag, match_always=False))

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(one, range(n), chunksize=64))
        seconds = time.perf_counter() - started
        ok = sum(results)
        stored = int(_state(base)["count"]) - before if base else ok  # type: ignore[call-overload]
        return ThroughputResult(n=n, ok=ok, failed=n - ok, seconds=seconds, stored=stored)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m notifications.bench")
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--url", default=None, help="json:// target of a running sink")
    args = parser.parse_args(argv)
    r = deliver_many(args.n, url=args.url, workers=args.workers)
    print(
        f"{r.n} notifications: {r.ok} ok, {r.failed} failed, {r.stored} stored by the sink, "
        f"{r.seconds:.1f} s ({r.per_second:.0f}/s)"
    )
    if r.failed or r.stored != r.n:
        sys.exit(1)


if __name__ == "__main__":
    main()
