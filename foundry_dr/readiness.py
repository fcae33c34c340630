"""Readiness: is the secondary, right now, a standby a cut-over could use? Pure.

The ``readiness`` runbook (flows/readiness.py) reads both sides without changing anything and
hands what it read to the judges below; each judge returns one :class:`Check`. The verdict
and the score are computed here, from the checks alone, so the formula has one home:

- a check *passes* (``ok=True``), *fails* (``ok=False``), or *could not be made* (``ok=None``,
  e.g. a region that did not answer); a check that could not be made counts as failed, since a
  standby nobody can verify is not known to be ready;
- **verdict** ``ready`` when every check passes, else ``degraded``;
- **score** = round(100 x sum of the weights of the passed checks / sum of all weights). The
  weights (:data:`WEIGHTS`) rank what a cut-over would lose: data and what serves it (3), the
  things a cut-over needs to work at all (2), the proof that it was rehearsed (2, 1).

AWS ARC's region-switch plan evaluation and Veeam's readiness report are the models: a plan is
re-checked on a schedule, and an edited plan is NOT VERIFIED until it has been drilled again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from foundry_dr.drill import DrillRecord

Verdict = Literal["ready", "degraded"]

# name -> weight (the score's formula above). One entry per check the runbook makes.
WEIGHTS: dict[str, int] = {
    "serving side": 3,
    "recovery point (RPO)": 3,
    "asset versions": 3,
    "online deployments": 3,
    "AI Services model deployments": 2,
    "workspace settings and network": 2,
    "role assignments": 2,
    "images": 2,
    "quota headroom": 2,
    "last fenced drill": 2,
    "plan unchanged since the drill": 1,
}
SHOWN = 10  # items named per check (the count says how many more)


class Check(BaseModel):
    """One readiness check: its outcome, why, and the items behind a failure."""

    name: str
    ok: bool | None = Field(description="True passed, False failed, None could not be checked (counts as failed).")
    detail: str = ""
    items: list[str] = Field(default_factory=list, description="What failed, one line each (first few).")
    count: int = 0  # how many items failed in all

    @property
    def weight(self) -> int:
        return WEIGHTS.get(self.name, 1)

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "NOT CHECKED"}[self.ok]


class Readiness(BaseModel):
    """What one readiness run found: kept in the secondary's storage, shown by ``foundry-dr status``."""

    plan: str
    plan_digest: str
    checked_at: datetime
    flow_run_id: str | None = None
    verdict: Verdict
    score: int
    checks: list[Check]

    @property
    def reasons(self) -> list[str]:
        """One line per check that did not pass: what a human (or an automation) acts on."""
        return [f"{c.name}: {c.detail}" for c in self.checks if c.ok is not True]


def judge(plan: str, digest: str, checked_at: datetime, checks: list[Check], flow_run_id: str | None = None
          ) -> Readiness:  # fmt: skip
    """The verdict and the score (formula in the module docstring)."""
    total = sum(c.weight for c in checks)
    passed = sum(c.weight for c in checks if c.ok is True)
    score = round(100 * passed / total) if total else 0
    verdict: Verdict = "ready" if checks and all(c.ok is True for c in checks) else "degraded"
    return Readiness(plan=plan, plan_digest=digest, checked_at=checked_at, flow_run_id=flow_run_id,
                     verdict=verdict, score=score, checks=checks)  # fmt: skip


def not_checked(name: str, why: str) -> Check:
    """A check whose reads failed: named, with the reason, counted as failed."""
    return Check(name=name, ok=None, detail=f"could not be checked: {why}")


def _listed(name: str, problems: list[str], ok_detail: str, what: str) -> Check:
    if not problems:
        return Check(name=name, ok=True, detail=ok_detail)
    more = f" (first {SHOWN} listed)" if len(problems) > SHOWN else ""
    return Check(name=name, ok=False, detail=f"{len(problems)} {what}{more}", items=problems[:SHOWN],
                 count=len(problems))  # fmt: skip


# ---- the judges: each takes what the runbook read, as plain data -----------------------------
def serving_side(active: str, stale: bool) -> Check:
    """Readiness is the secondary's as the primary's standby: once it serves, it is nobody's standby."""
    if stale:
        return not_checked("serving side", "the pointer could not be read (see foundry-dr status)")
    if active != "primary":
        return Check(name="serving side", ok=False,
                     detail=f"the {active} serves (cut over): there is no standby until fail-back")  # fmt: skip
    return Check(name="serving side", ok=True, detail="the primary serves; the secondary is its standby")


def recovery_point(rpo: Mapping[str, Any]) -> Check:
    """The last checkpoint's age against the RPO objective (``foundry_dr.checkpoint.rpo_status``)."""
    objective = f"objective {rpo['objective_seconds']:.0f} s"
    if rpo.get("checkpoint") is None:
        return Check(name="recovery point (RPO)", ok=False,
                     detail=f"no checkpoint: replicate-artifacts has never completed ({objective})")  # fmt: skip
    detail = f"{rpo['rpo_seconds']:.0f} s since the recovery point {rpo['checkpoint']} ({objective})"
    if rpo.get("unprotected"):
        detail += f"; {rpo['unprotected']} blob(s) not protected"
    return Check(name="recovery point (RPO)", ok=bool(rpo["met"]), detail=detail)


def asset_versions(actions: Iterable[Mapping[str, Any]], failures: Iterable[Mapping[str, Any]]) -> Check:
    """The dry-run plan of replicate-artifacts' asset step: every version it would create, update or
    hold as a conflict is one the secondary lacks or has differently."""
    problems = [f"{a['workspace']}/{a['kind']}/{a['name']}:{a['version']} {_asset_op(a['op'])}" for a in actions]
    problems += [f"{f.get('workspace', '?')}: {f.get('error', '?')}" for f in failures]
    return _listed("asset versions", problems, "every version of the primary is in the secondary",
                   "asset version(s) not replicated as they are in the primary")  # fmt: skip


def _asset_op(op: str) -> str:
    return {"create": "missing in the secondary", "update": "differs in the secondary",
            "conflict": "conflicts with the secondary's"}.get(op, op)  # fmt: skip


def online_deployments(items: Iterable[Mapping[str, Any]]) -> Check:
    """The dry-run plan of recreate-deployments at standby size: each write it would make is drift."""
    problems = [f"{i['workspace']}/{i['kind']} {i['name']}: {i['action']}" + (f" ({i['reason']})" if i.get("reason")
                else "") for i in items]  # fmt: skip
    return _listed("online deployments", problems, "endpoints and deployments match the plan's standby",
                   "endpoint(s) or deployment(s) to create or change")  # fmt: skip


def model_deployments(skipped: str | None, items: Iterable[Mapping[str, Any]], problems: Iterable[str] = ()) -> Check:
    """AI Services deployments, content filters and blocklists (``foundry_dr.model_deployments``)."""
    if skipped:
        return Check(name="AI Services model deployments", ok=True, detail=f"not part of the plan: {skipped}")
    lines = [*problems, *(f"{i['kind']} {i['name']}: {i['action']}" for i in items)]
    return _listed("AI Services model deployments", lines, "deployments, filters and blocklists in place",
                   "model deployment item(s) missing, different, or impossible in the secondary")  # fmt: skip


def workspace_settings(rows: Iterable[Mapping[str, Any]]) -> Check:
    """Hub, projects, computes, datastores and connections (``foundry_dr.drift``), network access included."""
    bad = [r for r in rows if r["status"] in ("DRIFT", "missing in secondary")]
    problems = [f"{r['resource']}: missing in the secondary" if r["setting"] == "(exists)" else
                f"{r['resource']} {r['setting']}: expected {r['expected']!r}, secondary {r['secondary']!r}"
                for r in bad]  # fmt: skip
    return _listed("workspace settings and network", problems, "no drift from the plan's secondary",
                   "setting(s) drifted")  # fmt: skip


def role_assignments(rows: Iterable[Mapping[str, Any]]) -> Check:
    """Every twin assignment the secondary should hold (``foundry_dr.role_assignments.drift_rows``)."""
    problems = [f"{r['role']} for {r['principal']} on {r['scope']}: {r['state']}" + (f" ({r['detail']})"
                if r.get("detail") else "") for r in rows if r["state"] not in ("present", "created")]  # fmt: skip
    return _listed("role assignments", problems, "every assignment has its twin in the secondary",
                   "assignment(s) missing in the secondary")  # fmt: skip


def images(mode: str, replication: Mapping[str, Any] | None, imports: Iterable[Mapping[str, Any]],
           problems: Iterable[str]) -> Check:  # fmt: skip
    """Images the secondary would pull (``tasks.registry`` dry run): a missing replica or tag is drift."""
    lines = list(problems)
    if replication and replication.get("action") != "exists":
        lines.append(f"geo-replication to {replication.get('region')}: {replication.get('action')}")
    lines += [f"{i['image']}: {i['result']}" for i in imports if i.get("result") not in ("present", "imported")]
    return _listed("images", lines, f"images available in the secondary ({mode})", "image problem(s)")


def quota_headroom(problems: Iterable[str], growth: int) -> Check:
    """Enough quota in the secondary to grow to production size (the cut-over's scale-up)."""
    lines = list(problems)
    ok = f"room to scale {growth} deployment(s) to production size" if growth else "nothing to scale at cut-over"
    return _listed("quota headroom", lines, ok, "quota shortfall(s) for the cut-over's scale-up")


def fenced_drill(history: Iterable[DrillRecord], now: datetime, max_age_days: float, digest: str
                 ) -> tuple[Check, Check]:  # fmt: skip
    """The newest fenced, non-dry-run drill: passed and recent; and Veeam's rule, a plan edited since
    its last drill is NOT VERIFIED (its digest against ``digest``, this plan's)."""
    drills = [d for d in history if d.fenced and not d.dry_run]
    if not drills:
        return (Check(name="last fenced drill", ok=False,
                      detail="no fenced drill on record (run dr-drill --fence-primary)"),
                Check(name="plan unchanged since the drill", ok=False,
                      detail="NOT VERIFIED: never drilled"))  # fmt: skip
    last = max(drills, key=lambda d: d.started_at)
    age_days = (now - last.started_at).total_seconds() / 86400
    when = f"{last.started_at.isoformat(timespec='seconds')} ({age_days:.1f} days ago)"
    if not last.passed:
        drill = Check(name="last fenced drill", ok=False, detail=f"the last fenced drill, {when}, FAILED")
    elif age_days > max_age_days:
        drill = Check(name="last fenced drill", ok=False,
                      detail=f"the last fenced drill passed {when}: older than drill.max_age_days {max_age_days:g}")
    else:
        drill = Check(name="last fenced drill", ok=True, detail=f"passed {when}")
    name = "plan unchanged since the drill"
    if not last.plan_digest:
        same = Check(name=name, ok=False, detail="NOT VERIFIED: the last fenced drill did not record its plan's digest")
    elif last.plan_digest != digest:
        same = Check(name=name, ok=False, detail=f"NOT VERIFIED: the plan changed since the last fenced drill "
                     f"({last.plan_digest[:19]}... then, {digest[:19]}... now): drill it again")  # fmt: skip
    else:
        same = Check(name=name, ok=True, detail=f"the plan drilled is this plan ({digest[:19]}...)")
    return drill, same


def table(result: Readiness) -> list[dict[str, Any]]:
    """The table artifact: one row per check."""
    return [{"check": c.name, "status": c.status, "weight": c.weight, "detail": c.detail,
             "items": "; ".join(c.items)} for c in result.checks]  # fmt: skip


def render(result: Readiness) -> str:
    """The run's markdown report."""
    lines = [
        f"# Readiness of plan `{result.plan}`: **{result.verdict.upper()}** (score {result.score}/100)",
        "",
        f"- checked at {result.checked_at.isoformat(timespec='seconds')}; plan {result.plan_digest}",
        "- score = 100 x (weights of passed checks) / (all weights); a check that could not be made counts "
        "as failed; ready only when every check passes",
        "",
        "| check | status | weight | detail |",
        "|---|---|---|---|",
        *(f"| {c.name} | {c.status} | {c.weight} | {c.detail.replace('|', '/')} |" for c in result.checks),
    ]
    failing = [c for c in result.checks if c.items and c.ok is False]
    for c in failing:
        lines += ["", f"## {c.name}", *(f"- {i}" for i in c.items)]
        if c.count > len(c.items):
            lines.append(f"- ... and {c.count - len(c.items)} more")
    return "\n".join(lines)
