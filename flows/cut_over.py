"""Runbook cut-over: make the secondary serve, approved, locked, planned or unplanned.

Steps (Azure Site Recovery's vocabulary): lock -> assess (probes, RPO exposure) ->
approval -> [planned: stop primary schedules, final replication] -> secondary serves at
production size, schedules on -> flip the active-hub pointer -> resubmit interrupted jobs
-> verify (smoke tests) -> report with RTO/RPO. Every step is idempotent, so a re-run after
a failure continues where it stopped.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.states import State

from foundry_dr.checkpoint import rpo_status
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import CutOverRefused
from foundry_dr.flows.common import (
    approval_gate,
    failover_lock,
    flow_run_id,
    publish_report,
    rejections_end_cancelled,
    run_name,
    runbook_run,
)
from foundry_dr.flows.evidence import evidence_markdown, evidence_of_run
from foundry_dr.flows.recreate_deployments import recreate_deployments
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr.pointer import ActivePointer
from foundry_dr.stores.checkpoint import read_checkpoint
from foundry_dr.stores.pointer import read_pointer
from foundry_dr.tasks.inventory import snapshot_inventory
from foundry_dr.tasks.jobs import cancel_jobs, resubmit_interrupted_jobs, set_schedules
from foundry_dr.tasks.probes import probe_side
from foundry_dr.tasks.replication_schedule import set_replication_schedules

RUNBOOK = "cut-over"
Mode = Literal["auto", "planned", "unplanned"]


@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK, "mode"),
      description="Fail over to the secondary region: approval, lock, pointer flip, job resubmission.")  # fmt: skip
@rejections_end_cancelled
def cut_over(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    mode: Mode = "auto",
    reason: str = "",
    outage_started_at: datetime | None = None,
    lock_wait_seconds: float | None = None,
    approval_poll_seconds: int | None = None,
) -> dict[str, Any] | State:
    logger = get_run_logger()
    with runbook_run(RUNBOOK, plan, mode=mode, dry_run=dry_run) as run:
        plan, factory, started, t0, timeline = run.plan, run.factory, run.started, run.t0, run.timeline
        with failover_lock(plan, RUNBOOK, lock_wait_seconds, factory) as lease:
            # The state first: with the secondary serving there is nothing to cut over, whatever the
            # mode or the primary's health (a final sync from the old primary would overwrite the
            # serving secondary's writes). Stale allowed: during an outage the primary's store is
            # unreadable; a flip is fenced by the lock's token anyway.
            pointer, source = read_pointer(factory, allow_stale=True)
            if pointer.active == "secondary":
                message = (f"nothing to do: the secondary ({plan.secondary.hub}) already serves since "
                           f"{pointer.changed_at.isoformat(timespec='seconds')} (pointer from {source}); "
                           "nothing changed")  # fmt: skip
                publish_report("cut-over-report", f"# Cut-over: plan `{plan.name}`\n\n- {message}")
                logger.info(message)
                run.emit("completed", nothing_to_do=True)
                return {"nothing_to_do": True, "active": "secondary", "summary": message}
            with run.step("assess"):
                assessment = assess(factory, plan, mode, pointer, source)
            summary = assessment["markdown"]
            if dry_run:
                publish_report("cut-over-report", f"# Cut-over (dry run): plan `{plan.name}`\n\n{summary}")
                run.emit("completed", dry_run=True, mode=assessment["mode"])
                return {"dry_run": True, "mode": assessment["mode"], "assessment": _public(assessment)}
            # unplanned while the primary answers: the final sync is skipped on purpose; confirm it
            confirm = assessment["mode"] == "unplanned" and assessment["primary"]["healthy"]
            decision = approval_gate(
                RUNBOOK, plan, approve=approve, summary=summary, poll_interval=approval_poll_seconds,
                reason=reason, confirm_unplanned=confirm,
            )  # fmt: skip
            run.approved(decision)
            chosen = assessment["mode"]
            if chosen == "planned":
                with run.step("stop primary schedules"):
                    set_schedules(factory, "primary", enabled=False)
                with run.step("final replication"):
                    final = replicate_artifacts(plan=plan, approve=True, direction="to-secondary", verify="all")
                inventory = snapshot_inventory(factory, "primary")
                recovery_point, replicated_until = final["recovery_point"], final["replicated_until"]
            else:
                final = None
                inventory = assessment["checkpoint_inventory"] or {}
                recovery_point, replicated_until = assessment["recovery_point"], assessment["replicated_until"]
            with run.step("pause forward replication"):
                paused = set_replication_schedules(plan, active=False)
            with run.step("secondary serves"):
                cold = plan.strategy.for_component("online_endpoints") == "hot-cold"
                serving = recreate_deployments(
                    plan=plan, approve=True, sizing="production", scale_only=not cold, side="secondary"
                )
                set_schedules(factory, "secondary", enabled=True)
            with run.step("flip pointer"):
                previous, _ = read_pointer(factory, allow_stale=True)
                written = run.flip_pointer(
                    "secondary", lease, decision, reason=reason, previous=previous,
                    recovery_point=recovery_point, replicated_until=replicated_until,
                )  # fmt: skip
            with run.step("resubmit jobs"):
                suffix = "dr" + (flow_run_id() or "local")[:6]
                jobs = resubmit_interrupted_jobs(factory, inventory, "secondary", suffix)
                if chosen == "planned":
                    moved = [
                        (r["workspace"], r["job"])
                        for r in jobs
                        if r["result"] in ("resubmitted", "already resubmitted")
                    ]
                    cancel_jobs(factory, "primary", moved)
            rto = time.monotonic() - t0
            result = {
                "mode": chosen, "active": "secondary", "approval": decision,
                "rpo": assessment["rpo"], "rto_seconds": round(rto, 1),
                "rto_from_outage_seconds": round((datetime.now(UTC) - outage_started_at).total_seconds(), 1)
                if outage_started_at else None,
                "jobs": jobs, "smoke": (serving or {}).get("smoke", []),
                "final_replication": (final or {}).get("summary"), "timeline": timeline,
                "recovery_point": recovery_point.isoformat() if recovery_point else None,
                "pointer_written": written, "replication_schedules_paused": paused,
            }  # fmt: skip
            result["evidence"] = evidence_of_run(run, result)
            _report(plan, started, assessment, result)
    logger.info(
        "cut-over (%s) done in %.1f s; active hub is %s", result["mode"], result["rto_seconds"], plan.secondary.hub
    )
    run.emit("completed", mode=result["mode"], rto_seconds=result["rto_seconds"])
    return result


def assess(factory: ClientFactory, plan: Plan, mode: Mode, pointer: ActivePointer, source: str) -> dict[str, Any]:
    """Probe both sides, pick the mode, measure the RPO exposure; raise if unsafe. ``pointer``
    (read from ``source``) says the primary serves."""
    primary = probe_side(factory, "primary")
    secondary = probe_side(factory, "secondary")
    if not secondary["healthy"]:
        failing = ", ".join(f"{p['probe']} ({p['detail']})" for p in secondary["probes"] if not p["ok"])
        raise CutOverRefused(f"the secondary is not ready: {failing}. Run provision-secondary first; nothing changed.")
    chosen = mode if mode != "auto" else ("planned" if primary["healthy"] else "unplanned")
    if chosen == "planned" and not primary["healthy"]:
        raise CutOverRefused(
            "a planned cut-over needs a healthy primary (it runs a final sync); the primary fails "
            "its probes: use mode=unplanned. Nothing changed."
        )
    checkpoint = read_checkpoint(factory, plan.name, direction="to-secondary")
    rpo = rpo_status(checkpoint, plan.objectives.rpo_minutes)
    exposure = (
        "none: a final replication runs before the pointer flips"
        if chosen == "planned"
        else f"everything written to the primary after {rpo['checkpoint'] or 'ever (no checkpoint!)'}"
    )
    lines = [
        f"- mode: **{chosen}** (asked: {mode})",
        f"- primary healthy: {primary['healthy']} ({_probe_text(primary)})",
        f"- secondary healthy: {secondary['healthy']} ({_probe_text(secondary)})",
        f"- last checkpoint: {rpo['checkpoint']}; RPO exposure: {exposure}",
        f"- active hub now: {pointer.active} ({pointer.hub}; from {source})",
        *([f"- **unplanned while the primary is healthy**: the final sync is skipped; {exposure} stays behind "
           "(approving needs the confirmation)"] if chosen == "unplanned" and primary["healthy"] else []),
        f"- will change: {'disable primary schedules, final sync, ' if chosen == 'planned' else ''}"
        "scale the secondary to production size, enable its schedules, flip the active-hub pointer to "
        f"{plan.secondary.hub}, resubmit interrupted jobs in the secondary",
    ]
    return {
        "mode": chosen, "primary": primary, "secondary": secondary, "rpo": rpo, "exposure": exposure,
        "markdown": "\n".join(lines), "checkpoint_inventory": checkpoint.inventory if checkpoint else None,
        "recovery_point": checkpoint.point if checkpoint else None, "pointer": pointer,
        "replicated_until": checkpoint.completed_at if checkpoint else None,
    }  # fmt: skip


def _probe_text(result: dict[str, Any]) -> str:
    return "; ".join(f"{p['probe']} {'ok' if p['ok'] else 'FAILED: ' + p['detail']}" for p in result["probes"])


def _public(assessment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in assessment.items() if k not in ("checkpoint_inventory", "pointer")}


def _report(plan: Plan, started: datetime, assessment: dict[str, Any], result: dict[str, Any]) -> None:
    rpo = result["rpo"]
    lines = [
        f"# Cut-over: plan `{plan.name}` ({result['mode']})",
        "",
        f"- started {started.isoformat(timespec='seconds')}; approval: {result['approval']['decision']} by "
        f"{result['approval']['approver']} ({result['approval']['reason']})",
        f"- **RTO** (run start -> secondary serving and pointer flipped): {result['rto_seconds']} s "
        f"(objective {plan.objectives.rto_minutes * 60:.0f} s)"
        + (f"; from the outage: {result['rto_from_outage_seconds']} s" if result["rto_from_outage_seconds"] else ""),
        f"- **RPO exposure**: {assessment['exposure']} (checkpoint age {rpo['rpo_seconds']} s, objective "
        f"{rpo['objective_seconds']:.0f} s)",
        f"- final replication: {result['final_replication'] or 'not possible (unplanned)'}",
        "",
        "## Assessment",
        assessment["markdown"],
        "",
        "## Timeline (seconds)",
        "| step | seconds |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in result["timeline"].items()),
    ]
    markdown = "\n".join(lines) + evidence_markdown(result.get("evidence"))
    publish_report("cut-over-report", markdown, result["jobs"] or None, "cut-over-jobs",
                   table_description=f"Jobs resubmitted or cancelled by the cut-over of plan {plan.name}")  # fmt: skip
