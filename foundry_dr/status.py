"""`foundry-dr status`: active region, last checkpoint, RPO now, and drift when available."""

from __future__ import annotations

from typing import Any

from foundry_dr.checkpoint import rpo_status
from foundry_dr.checkpoint_store import read_checkpoint
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan
from foundry_dr.pointer_store import read_pointer


def collect_status(plan: Plan, factory: ClientFactory | None = None) -> dict[str, Any]:
    """Read-only: the pointer, the newest checkpoint on either side, and RPO now."""
    factory = factory or ClientFactory(plan)
    pointer, source = read_pointer(factory)
    checkpoint = read_checkpoint(factory, plan.name)
    status: dict[str, Any] = {
        "plan": plan.name,
        "active": {"side": pointer.active, "hub": pointer.hub, "location": pointer.location, "source": source,
                   "changed_at": pointer.changed_at.isoformat(), "approver": pointer.approver,
                   "reason": pointer.reason, "version": pointer.version},
        "last_checkpoint": None,
        "rpo": rpo_status(checkpoint, plan.objectives.rpo_minutes),
        "objectives": {"rpo_minutes": plan.objectives.rpo_minutes, "rto_minutes": plan.objectives.rto_minutes},
    }
    if checkpoint is not None:
        status["last_checkpoint"] = {"completed_at": checkpoint.completed_at.isoformat(),
                                     "direction": checkpoint.direction, "flow_run_id": checkpoint.flow_run_id,
                                     "counts": checkpoint.counts}
    return status


def render_status(status: dict[str, Any]) -> str:
    a, rpo = status["active"], status["rpo"]
    lines = [
        f"plan {status['plan']}: active side {a['side']} ({a['hub']} in {a['location']}; pointer from {a['source']}, "
        f"v{a['version']}, {a['changed_at']})",
    ]
    if status["last_checkpoint"]:
        c = status["last_checkpoint"]
        lines.append(f"last checkpoint: {c['completed_at']} ({c['direction']})")
        verdict = "met" if rpo["met"] else "NOT met"
        lines.append(f"RPO now: {rpo['rpo_seconds']:.0f} s (objective {rpo['objective_seconds']:.0f} s): {verdict}")
    else:
        lines.append("last checkpoint: none (run replicate-artifacts): RPO objective NOT met")
    return "\n".join(lines)
