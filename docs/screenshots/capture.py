"""Take the README's screenshots from a running `ilp up` (headless Chromium via Playwright).

    .venv/bin/ilp up &                       # wait for "ILP is up."
    .venv/bin/python docs/screenshots/capture.py --task-link 'http://127.0.0.1:8700/a/...' \
        --report-link 'http://127.0.0.1:8700/report/...'
    .venv/bin/ilp simulate --out var/sim
    cp var/sim/timeline.png docs/screenshots/simulate-timeline.png

It first POSTs one enrollment to the web app's webhook so that a lifecycle run (started by the
ilp.enrollment.created event through the deployment trigger) exists, then visits the Prefect UI,
the sink and the staff pages. Pass --chromium to use another browser binary.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEMO_STUDENT = {
    "student_id": "stu-demo-1",
    "school_id": "sch-0001",
    "given_name": "Dana",
    "family_name": "Demo",
    "grade": "10",
    "start_date": "2026-09-14",
    "english_learner": "esl",
    "teacher_id": "tch-0001-001",
    "returning": "false",
}


def _lifecycle_run(api: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={"flows": {"name": {"any_": ["enrollment-lifecycle"]}}, "limit": 5},
        ).json()
        done = [r for r in runs if r["state"]["type"] == "COMPLETED"]
        if done:
            return dict(done[0])
        time.sleep(1)
    raise SystemExit("no completed enrollment-lifecycle run; is `ilp up` running?")


def _artifact(api: str, flow_run_id: str, key_prefix: str, exclude: str = "@") -> str:
    found = httpx.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200},
    ).json()
    wanted = [
        a for a in found if (a["key"] or "").startswith(key_prefix) and exclude not in a["key"]
    ]
    if not wanted:
        raise SystemExit(f"no {key_prefix}* artifact on flow run {flow_run_id}")
    return str(wanted[0]["id"])


def _latest_run(api: str, flow: str) -> dict[str, Any]:
    runs = httpx.post(
        f"{api}/flow_runs/filter",
        json={
            "flows": {"name": {"any_": [flow]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            "limit": 1,
            "sort": "START_TIME_DESC",
        },
    ).json()
    if not runs:
        raise SystemExit(f"no completed {flow} run")
    return dict(runs[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefect", default="http://127.0.0.1:4200")
    parser.add_argument("--web", default="http://127.0.0.1:8700")
    parser.add_argument("--sink", default="http://127.0.0.1:8701")
    parser.add_argument("--task-link", required=True, help="the task-list link ilp up printed")
    parser.add_argument("--report-link", required=True, help="the report link ilp up printed")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    api = f"{args.prefect}/api"

    httpx.post(f"{args.web}/enrollments", json=[DEMO_STUDENT], timeout=30).raise_for_status()
    run = _lifecycle_run(api)
    lifecycle_artifact = _artifact(api, run["id"], "lifecycle-")
    import_artifact = _artifact(api, _latest_run(api, "import-feed")["id"], "feed-run-", "rej")
    compliance_artifact = _artifact(api, _latest_run(api, "escalation-sweep")["id"], "ilp-compl")
    messages = httpx.get(f"{args.sink}/messages").json()
    longest = max(messages, key=lambda m: m["message"].count("Acknowledge:"))
    ack_link = re.search(r"Acknowledge: (\S+)", longest["message"])
    assert ack_link, "no acknowledge link in the sink's messages"

    from playwright.sync_api import sync_playwright

    shots = [
        ("prefect-flow-runs.png", f"{args.prefect}/runs", 1400, 900),
        (
            "prefect-lifecycle-artifact.png",
            f"{args.prefect}/artifacts/artifact/{lifecycle_artifact}",
            1400,
            1000,
        ),
        (
            "prefect-import-run.png",
            f"{args.prefect}/artifacts/artifact/{import_artifact}",
            1400,
            1000,
        ),
        ("prefect-deployments.png", f"{args.prefect}/deployments", 1400, 700),
        ("prefect-events.png", f"{args.prefect}/events", 1400, 900),
        ("sink-digest.png", f"{args.sink}/", 1100, 900),
        ("web-confirm.png", ack_link.group(1), 1000, 700),
        ("web-task-list.png", args.task_link, 1100, 1000),
        (
            "prefect-compliance-artifact.png",
            f"{args.prefect}/artifacts/artifact/{compliance_artifact}",
            1400,
            1100,
        ),
        ("web-report.png", args.report_link, 1100, 1300),
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        for name, url, width, height in shots:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url, wait_until="networkidle", timeout=60_000)
            page.wait_for_timeout(2500 if url.startswith(args.prefect) else 300)
            page.screenshot(path=str(args.out / name))
            page.close()
            print(args.out / name, (args.out / name).stat().st_size // 1024, "KB")
        browser.close()


if __name__ == "__main__":
    main()
