"""Open an evidence report (HTML) in headless chromium, offline, check it and screenshot it.

    python scripts/evidence_screenshot.py OUT.png [REPORT.html]

Without REPORT.html, renders an illustrative drill bundle (synthetic history: ten weekly drills,
three days of 15-minute checkpoints) with foundry_dr/evidence.py. The page is loaded from a
file:// URL with the network observed: the check fails if the page asks for anything that is not
a data: URI, or if a plot does not decode. Refreshes ``docs/img/evidence-report.png``:

    python scripts/evidence_screenshot.py docs/img/evidence-report.png
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ui_screenshot import headless_page  # noqa: E402 - the sibling script's chromium and DevTools client


def sample_report() -> str:
    """An illustrative fenced, isolated drill's report (synthetic data)."""
    from foundry_dr.checkpoint import Checkpoint
    from foundry_dr.drill import DrillRecord
    from foundry_dr.evidence import (
        Approval,
        bundle_from_drill,
        checkpoint_age_series,
        plot_checkpoint_age,
        plot_drill_trend,
        render_html,
    )

    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    started = now - timedelta(minutes=12)
    drills = [DrillRecord(started_at=started - timedelta(weeks=9 - i), rto_seconds=1500 + 130 * (i % 4) - 40 * i,
                          rpo_seconds=420 + 95 * (i % 3), passed=i != 3, fenced=i >= 5, flow_run_id=f"run-{i}",
                          primary_calls=0 if i >= 5 else None) for i in range(10)]  # fmt: skip
    drills[3].rpo_seconds = 2150  # a missed RPO: the failed drill
    checkpoints = [(now - timedelta(days=3) + timedelta(minutes=15 * k + 6), now - timedelta(days=3)
                    + timedelta(minutes=15 * k)) for k in range(4 * 72) if k % 97 not in (40, 41, 42)]  # fmt: skip
    last = checkpoints[-1]
    checkpoint = Checkpoint(
        plan="contoso-foundry", direction="to-secondary", completed_at=last[0], started_at=last[1],
        recovery_point=last[1], flow_run_id="3f0c9a1e-replicate", source_side="primary",
        counts={"blobs": {"copied": 412, "skipped": 18220, "verified": 18632},
                "assets": {"created": 3, "unchanged": 57}, "images": {"imported": 1, "unchanged": 12}},
    )  # fmt: skip
    span = [("cleanup of earlier drills", 0, 4), ("drill target", 4, 706), ("cleanup", 707, 745)]
    outcome = {
        "fenced": True, "isolated": True, "rto_seconds": 706.4, "rpo_seconds": 1110.0, "errors": [],
        "smoke": [{"endpoint": "chat-drill", "ok": True}, {"endpoint": "embed-drill", "ok": True}],
        "drill_target": ["/subscriptions/…/onlineEndpoints/chat-drill", "/subscriptions/…/onlineEndpoints/embed-drill"],
        "cleaned": [{"resource": "/subscriptions/…/workspaces/proj-westus/onlineEndpoints/chat-drill",
                     "result": "deleted"},
                    {"resource": "/subscriptions/…/workspaces/proj-westus/onlineEndpoints/embed-drill",
                     "result": "deleted"}],
        "pointer_untouched": True, "primary_calls": [],
        "verdict": {"checks": {"rto": True, "rpo": True, "smoke": True, "no errors": True,
                               "production pointer untouched": True, "0 calls to the primary": True}, "passed": True},
    }  # fmt: skip
    bundle = bundle_from_drill(
        plan_name="contoso-foundry", plan_digest="sha256:9b1d" + "0e4f" * 15, flow_run_id="a7c2e5d4-drill",
        started_at=started, outcome=outcome, rto_objective_seconds=3600, rpo_objective_seconds=1800,
        checkpoint=checkpoint, ended_at=started + timedelta(seconds=745),
        steps=[{"name": n, "started_at": started + timedelta(seconds=a), "ended_at": started + timedelta(seconds=b),
                "seconds": float(b - a), "ok": True} for n, a, b in span],
        approvals=[Approval(decision="auto", approver="plan", reason="approvals.dr-drill is auto", at=started,
                            runbook="dr-drill")],
    )  # fmt: skip
    plots = {"RTO and RPO per drill": plot_drill_trend(drills, 3600, 1800),
             "Checkpoint age, last 3 days": plot_checkpoint_age(checkpoint_age_series(checkpoints, now), 1800)}
    return render_html(bundle, {k: v for k, v in plots.items() if v})


def check_and_screenshot(html_path: Path, out: Path, width: int = 1100) -> dict[str, Any]:
    """Load ``html_path`` offline; the requests it made that were not data: URIs, its images and
    how many decoded; a full-page PNG at ``out``."""
    with headless_page(width, 900) as tools:
        # every resource the page asks for goes through the fetch domain: answered or refused here
        tools.call("Page.enable")
        tools.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        tools.ws.send(json.dumps({"id": 0, "method": "Page.navigate",
                                  "params": {"url": html_path.resolve().as_uri()}}))  # fmt: skip
        requested: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the page's own request and its follow-ups settle
            try:
                msg = json.loads(tools.ws.recv(timeout=2))
            except TimeoutError:
                break
            if msg.get("method") == "Fetch.requestPaused":
                url = msg["params"]["request"]["url"]
                requested.append(url)
                tools.ws.send(json.dumps({"id": 10_000 + len(requested), "method": "Fetch.continueRequest",
                                          "params": {"requestId": msg["params"]["requestId"]}}))  # fmt: skip
        tools.call("Fetch.disable")
        tools.wait_for("document.readyState === 'complete'", 30, "the page to load")
        images = tools.evaluate("[...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        title = tools.evaluate("document.title")
        height = tools.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        tools.call("Emulation.setDeviceMetricsOverride", width=width, height=int(height), deviceScaleFactor=1,
                   mobile=False)  # fmt: skip
        shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))
    page_url = html_path.resolve().as_uri()
    external = [u for u in requested if u != page_url and not u.startswith("data:")]
    return {"title": title, "images": images, "external_requests": external, "screenshot": str(out)}


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    if len(argv) == 3:
        html_path = Path(argv[2])
        result = check_and_screenshot(html_path, out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            html_path = Path(tmp) / "evidence-report.html"
            html_path.write_text(sample_report(), encoding="utf-8")
            result = check_and_screenshot(html_path, out)
    print(json.dumps(result, indent=1))
    ok = not result["external_requests"] and all(loaded for _, loaded in result["images"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
