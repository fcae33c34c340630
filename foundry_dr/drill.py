"""Judging a DR drill against the plan's objectives, its report, and its isolated target. Pure.

The isolated drill target (plan ``drill.isolated``): drill-suffixed copies of the secondary's own
online endpoints and deployments, at production size. Copied from the secondary, not the primary:
the copy is what a cut-over would serve (the secondary's deployments carry their production size),
it needs nothing from the primary (a fenced drill can use it), and the secondary's production
deployments, which a hot-hot secondary serves traffic from, are only read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from foundry_dr.deployment_plan import Context, WorkspacePlan, plan_workspace

# Tag on every resource a drill creates: which drill run made it (so a leftover is recognisable
# even without the record in the secondary's storage).
DRILL_TAG = "foundry-dr.drill-run"


class DrillRecord(BaseModel):
    started_at: datetime
    flow_run_id: str | None = None
    dry_run: bool = False
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    passed: bool = False
    fenced: bool = False
    primary_calls: int | None = None  # refused by the fence (None: not fenced)
    plan_digest: str | None = None  # Plan.digest of the plan drilled (None: recorded before it was kept)


def evaluate_objectives(
    rto_seconds: float | None,
    rpo_seconds: float | None,
    rto_minutes: float,
    rpo_minutes: float,
    *,
    smoke: list[dict],
    errors: list[str],
    pointer_untouched: bool,
    primary_calls: list[str] | None = None,
) -> dict[str, Any]:
    """Pass/fail per objective; a drill passes only if every check passes. ``primary_calls``: the
    calls a fenced drill's fence refused (None: not fenced); any at all fails the drill, since the
    unplanned path it rehearses would have needed the primary."""
    checks = {
        "rto": rto_seconds is not None and rto_seconds <= rto_minutes * 60,
        "rpo": rpo_seconds is not None and rpo_seconds <= rpo_minutes * 60,
        "smoke": bool(smoke) and all(bool(s.get("ok")) for s in smoke),
        "no errors": not errors,
        "production pointer untouched": pointer_untouched,
    }
    if primary_calls is not None:
        checks["0 calls to the primary"] = not primary_calls
    return {"checks": checks, "passed": all(checks.values())}


# ---- isolated drill target ------------------------------------------------------------------
def drill_context(workspaces: list[str], location: str, vault_uri: str, suffix: str) -> Context:
    """Copies inside each secondary workspace (ids map to themselves), ``-<suffix>`` names, production size."""
    return Context(
        workspaces={w: w for w in workspaces}, location=location, vault_uri=vault_uri, name_suffix=f"-{suffix}",
        to_secondary=True, strategies={"online_endpoints": "hot-hot"}, sizing="production",
    )  # fmt: skip


def is_drill_copy(doc: Mapping[str, Any], suffix: str) -> bool:
    """A resource a drill made: tagged by one, or named with the drill suffix."""
    return DRILL_TAG in (doc.get("tags") or {}) or str(doc.get("name", "")).endswith(f"-{suffix}")


def plan_drill_target(inventory: Mapping[str, Any], ctx: Context, run_id: str) -> WorkspacePlan:
    """The drill copies of one secondary workspace's online endpoints, tagged with the drill run.
    Batch endpoints and schedules are not copied: a drill serves requests, it runs no jobs."""
    suffix = (ctx.name_suffix or "").lstrip("-")
    online = inventory.get("online", [])
    source = {"name": inventory["name"], "online": [e for e in online if not is_drill_copy(e["doc"], suffix)]}
    target = {"name": inventory["name"], "online": [e for e in online if is_drill_copy(e["doc"], suffix)]}
    plan = plan_workspace(source, target, ctx)
    for item in plan.items():
        if item.body is not None:
            item.body.setdefault("tags", {})[DRILL_TAG] = run_id
    return plan


class CreatedByDrill(BaseModel):
    """What one drill run creates (recorded before it is created), and when it was removed."""

    flow_run_id: str
    started_at: datetime
    resources: list[str] = Field(default_factory=list)
    cleaned_at: datetime | None = None


def due_for_cleanup(
    entries: list[CreatedByDrill],
    now: datetime,
    max_lifetime_hours: float,
    *,
    except_run: str | None = None,
    all_ages: bool = False,
) -> list[CreatedByDrill]:
    """Entries whose resources should go: not cleaned yet, not ``except_run`` (the drill running now),
    and older than the plan's lifetime, unless ``all_ages`` (the next drill holds the failover lock,
    so no other drill can be alive)."""
    limit = timedelta(hours=max_lifetime_hours)
    return [
        e for e in entries
        if e.cleaned_at is None and e.flow_run_id != except_run and (all_ages or now - e.started_at >= limit)
    ]  # fmt: skip


# ---- report ---------------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _mode_lines(outcome: dict[str, Any]) -> list[str]:
    fenced = outcome.get("fenced")
    mode = (
        "**fenced**: as an unplanned cut-over, from the last checkpoint, no call to the primary"
        if fenced
        else "not fenced: replicated from the live primary first"
    )
    target = "isolated drill copies (`-suffix` names)" if outcome.get("isolated") else "the secondary, in place"
    lines = [f"- mode: {mode}; target: {target}"]
    if fenced:
        lines.append(f"- fence: {outcome.get('fence_summary', 'n/a')}")
    return lines


def render_drill_report(plan_name: str, outcome: dict[str, Any], history: list[DrillRecord]) -> str:
    verdict = outcome["verdict"]
    checks = verdict["checks"]
    fence_row = []
    if "0 calls to the primary" in checks:
        calls = len(outcome.get("primary_calls") or [])
        result = "pass" if checks["0 calls to the primary"] else "FAIL"
        fence_row = [f"| calls to the primary (fenced) | {calls} | {result} |"]
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
        *fence_row,
        "",
        *_mode_lines(outcome),
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
    if outcome.get("drill_target"):
        lines += ["", "## Drill target (created by this drill)", *(f"- `{r}`" for r in outcome["drill_target"])]
    if outcome.get("cleaned"):
        lines += ["", "## Cleaned up", "| resource | result |", "|---|---|"]
        lines += [f"| `{c['resource']}` | {c['result']} |" for c in outcome["cleaned"]]
    if outcome.get("errors"):
        lines += ["", "## Errors", *(f"- {e}" for e in outcome["errors"])]
    if history:
        lines += ["", "## Trend (newest first)", "| started | RTO | RPO | result |", "|---|---|---|---|"]
        lines += [
            f"| {h.started_at.isoformat(timespec='seconds')} | {_fmt(h.rto_seconds)} | {_fmt(h.rpo_seconds)} | "
            f"{'pass' if h.passed else 'FAIL'}{' (dry run)' if h.dry_run else ''}{' (fenced)' if h.fenced else ''} |"
            for h in history
        ]
    return "\n".join(lines)
