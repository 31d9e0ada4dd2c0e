"""Throughput check: N notifications through real Apprise into the local sink.

`python -m notifications.bench 10000` or `deliver_many(10_000)` from the benchmark.
One Apprise object is reused and a small thread pool sends concurrently. Unless a sink URL is
given, a sink is started in its own process (as `make up` runs it) on a free port.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime

import apprise

from notifications.apprise_config import add_staff_target, staff_tag
from notifications.digest import DigestItem, group_into_digests
from notifications.links import LinkBuilder
from notifications.render import render_digest
from notifications.sink import sink_process, sink_state


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
    with tempfile.TemporaryDirectory(prefix="ilp-sink-bench-") as tmp:
        with sink_process(directory or tmp) if url is None else nullcontext(None) as base:
            target = url or f"json://{base.removeprefix('http://')}/messages"  # type: ignore[union-attr]
            before = int(sink_state(base)["count"]) if base else 0
            apobj = apprise.Apprise()
            add_staff_target(apobj, 1, target)
            tag = staff_tag(1)
            title, body = _sample_message()

            def one(i: int) -> bool:
                return bool(
                    apobj.notify(body=body, title=f"{title} #{i}", tag=tag, match_always=False)
                )

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                results = list(pool.map(one, range(n), chunksize=64))
            seconds = time.perf_counter() - started
            ok = sum(results)
            stored = int(sink_state(base)["count"]) - before if base else ok
    return ThroughputResult(n=n, ok=ok, failed=n - ok, seconds=seconds, stored=stored)


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
