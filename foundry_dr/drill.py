"""Judging a DR drill against the plan's objectives, and its report. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class DrillRecord(BaseModel):
    started_at: datetime
    flow_run_id: str | None = None
    dry_run: bool = False
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    passed: bool = False


def evaluate_objectives(
    rto_seconds: float | None,
    rpo_seconds: float | None,
    rto_minutes: float,
    rpo_minutes: float,
    *,
    smoke: list[dict],
    errors: list[str],
    pointer_untouched: bool,
) -> dict[str, Any]:
    """Pass/fail per objective; a drill passes only if every check passes."""
    checks = {
        "rto": rto_seconds is not None and rto_seconds <= rto_minutes * 60,
        "rpo": rpo_seconds is not None and rpo_seconds <= rpo_minutes * 60,
        "smoke": bool(smoke) and all(bool(s.get("ok")) for s in smoke),
        "no errors": not errors,
        "production pointer untouched": pointer_untouched,
    }
    return {"checks": checks, "passed": all(checks.values())}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def render_drill_report(plan_name: str, outcome: dict[str, Any], history: list[DrillRecord]) -> str:
    verdict = outcome["verdict"]
    checks = verdict["checks"]
    lines = [
        f"# DR drill of plan `{plan_name}`: {'PASSED' if verdict['passed'] else 'FAILED'}",
        "",
        "| objective / check | measured | result |",
        "|---|---|---|",
        f"| RTO (drill start -> secondary serving) | {_fmt(outcome.get('rto_seconds'))} | "
        f"{'pass' if verdict['checks']['rto'] else 'FAIL'} |",
        f"| RPO (recovery point age when serving) | {_fmt(outcome.get('rpo_seconds'))} | "
        f"{'pass' if verdict['checks']['rpo'] else 'FAIL'} |",
        f"| smoke tests | {len(outcome.get('smoke', []))} endpoint(s) | "
        f"{'pass' if verdict['checks']['smoke'] else 'FAIL'} |",
        f"| production pointer untouched | | {'pass' if checks['production pointer untouched'] else 'FAIL'} |",
        "",
        f"Recovery point age at drill start: {_fmt(outcome.get('checkpoint_age_at_start'))}.",
        "",
        "## Steps",
        "| step | seconds |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in outcome.get("steps", {}).items()),
    ]
    if outcome.get("smoke"):
        lines += ["", "## Smoke tests", "| endpoint | status | ms |", "|---|---|---|"]
        lines += [f"| {s.get('endpoint')} | {s.get('status')} | {s.get('latency_ms', '')} |" for s in outcome["smoke"]]
    if outcome.get("errors"):
        lines += ["", "## Errors", *(f"- {e}" for e in outcome["errors"])]
    if history:
        lines += ["", "## Trend (newest first)", "| started | RTO | RPO | result |", "|---|---|---|---|"]
        lines += [
            f"| {h.started_at.isoformat(timespec='seconds')} | {_fmt(h.rto_seconds)} | {_fmt(h.rpo_seconds)} | "
            f"{'pass' if h.passed else 'FAIL'}{' (dry run)' if h.dry_run else ''} |"
            for h in history
        ]
    return "\n".join(lines)
