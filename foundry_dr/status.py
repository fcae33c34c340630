"""`foundry-dr status`: active region, last checkpoint, RPO now, and drift when available."""

from __future__ import annotations

from typing import Any

from foundry_dr.checkpoint import rpo_status
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan
from foundry_dr.stores.checkpoint import read_checkpoint
from foundry_dr.stores.pointer import read_pointer_detail


def collect_status(plan: Plan, factory: ClientFactory | None = None, allow_stale: bool = True) -> dict[str, Any]:
    """Read-only: the pointer, the failover lock, the newest checkpoint on either side, RPO now.

    A store that can't be read is shown as such (``pointer.source`` says STALE and why); with
    ``allow_stale=False`` it is an error instead (PointerUnavailable)."""
    from azure.core.exceptions import AzureError

    from foundry_dr.stores.lock import read_lock
    from foundry_dr.stores.records import describe_failure

    factory = factory or ClientFactory(plan)
    reading = read_pointer_detail(factory, allow_stale=allow_stale)
    pointer, source = reading.pointer, reading.source
    try:
        record = read_lock(factory)
        lock: dict[str, Any] = {"held": bool(record and record.held()), "detail": record.describe() if record else
                                "never taken", "token": record.token if record else 0}
        if record and record.held():
            lock.update(holder=record.runbook, flow_run_id=record.flow_run_id, since=str(record.acquired_at),
                        until=str(record.expires_at))
    except AzureError as exc:
        lock = {"held": None, "detail": f"unreadable: {describe_failure(exc)}"}
    checkpoint = read_checkpoint(factory, plan.name)
    status: dict[str, Any] = {
        "plan": plan.name,
        "active": {"side": pointer.active, "hub": pointer.hub, "location": pointer.location, "source": source,
                   "changed_at": pointer.changed_at.isoformat(), "approver": pointer.approver,
                   "reason": pointer.reason, "version": pointer.version, "fencing_token": pointer.fencing_token,
                   "stale": bool(reading.failed), "never_flipped": reading.never_flipped},
        "lock": lock,
        "last_checkpoint": None,
        "rpo": rpo_status(checkpoint, plan.objectives.rpo_minutes),
        "objectives": {"rpo_minutes": plan.objectives.rpo_minutes, "rto_minutes": plan.objectives.rto_minutes},
    }
    status["readiness"] = _readiness(factory)
    if checkpoint is not None:
        status["last_checkpoint"] = {"completed_at": checkpoint.completed_at.isoformat(),
                                     "recovery_point": checkpoint.point.isoformat(),
                                     "direction": checkpoint.direction, "flow_run_id": checkpoint.flow_run_id,
                                     "counts": checkpoint.counts}
    return status


def _readiness(factory: ClientFactory) -> dict[str, Any]:
    """The last verdict of the readiness runbook (kept in the secondary's storage), with its age."""
    from datetime import UTC, datetime

    from azure.core.exceptions import AzureError

    from foundry_dr.stores.readiness import read_readiness
    from foundry_dr.stores.records import describe_failure

    try:
        last = read_readiness(factory)
    except AzureError as exc:
        return {"verdict": None, "detail": f"unreadable: {describe_failure(exc)}"}
    if last is None:
        return {"verdict": None, "detail": "never checked (run: foundry-dr run readiness)"}
    age = (datetime.now(UTC) - last.checked_at).total_seconds()
    return {"verdict": last.verdict, "score": last.score, "checked_at": last.checked_at.isoformat(),
            "age_seconds": round(age), "reasons": last.reasons, "flow_run_id": last.flow_run_id,
            "detail": f"{last.verdict.upper()} (score {last.score}/100, checked {age / 60:.0f} min ago)"}


def render_status(status: dict[str, Any]) -> str:
    a, rpo = status["active"], status["rpo"]
    flipped = "never flipped" if a.get("never_flipped") else f"v{a['version']} token {a.get('fencing_token', 0)}"
    lines = [
        f"plan {status['plan']}: active side {a['side']} ({a['hub']} in {a['location']}; pointer from {a['source']}, "
        f"{flipped}, {a['changed_at']})",
        f"failover lock: {status['lock']['detail']}",
    ]
    if status["last_checkpoint"]:
        c = status["last_checkpoint"]
        lines.append(f"last checkpoint: {c['completed_at']} ({c['direction']})")
        verdict = "met" if rpo["met"] else "NOT met"
        lines.append(f"RPO now: {rpo['rpo_seconds']:.0f} s (objective {rpo['objective_seconds']:.0f} s): {verdict}")
    else:
        lines.append("last checkpoint: none (run replicate-artifacts): RPO objective NOT met")
    readiness = status.get("readiness") or {}
    if readiness:
        lines.append(f"readiness: {readiness['detail']}")
        lines += [f"  - {r}" for r in readiness.get("reasons") or []]
    return "\n".join(lines)
