"""Runbook fail-back: bring production home without losing what the secondary did.

Steps: lock -> refuse unless every primary probe passes -> reverse replication of what was
created or changed in the secondary (conflicts resolved by the plan's policy, default
keep-both, never a silent overwrite) -> the primary's deployments exist and serve ->
approval -> flip the pointer back -> schedules: secondary off, primary on -> secondary back
to standby size -> report.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import State

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import FailBackRefused
from foundry_dr.flows.common import (
    approval_gate,
    failover_lock,
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
from foundry_dr.tasks.jobs import set_schedules
from foundry_dr.tasks.probes import probe_side
from foundry_dr.tasks.replication_schedule import set_replication_schedules

RUNBOOK = "fail-back"


@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK),
      description="Return production to the primary region after an outage, losing nothing.")  # fmt: skip
@rejections_end_cancelled
def fail_back(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    reason: str = "",
    lock_wait_seconds: float | None = None,
    approval_poll_seconds: int | None = None,
) -> dict[str, Any] | State:
    logger = get_run_logger()
    with runbook_run(RUNBOOK, plan, dry_run=dry_run) as run:
        plan, factory, t0, timeline = run.plan, run.factory, run.t0, run.timeline
        with failover_lock(plan, RUNBOOK, lock_wait_seconds, factory) as lease:
            with run.step("probe primary"):
                primary = probe_side(factory, "primary")
            if not primary["healthy"]:
                failing = "; ".join(f"{p['probe']}: {p['detail']}" for p in primary["probes"] if not p["ok"])
                raise FailBackRefused(f"the primary is not healthy ({failing}); fail-back refused, nothing changed")
            pointer, source = read_pointer(factory)  # both regions answer here: no stale answer
            if pointer.active != "secondary":
                message = f"nothing to do: the primary ({plan.primary.hub}) serves; nothing changed"
                publish_report("fail-back-report", f"# Fail-back: plan `{plan.name}`\n\n- {message}")
                run.emit("completed", nothing_to_do=True)
                return {"nothing_to_do": True, "active": "primary", "summary": message}
            since, source_since = recovery_point(factory, pointer)
            with run.step("reverse replication"):
                # verify="changed": fail-back must never "repair" a primary blob from the replica
                reverse = replicate_artifacts(
                    plan=plan, approve=True, dry_run=dry_run, direction="to-primary", verify="changed", since=since,
                    source_since=source_since,
                )
            with run.step("primary deployments"):
                primary_serving = recreate_deployments(
                    plan=plan, approve=True, dry_run=dry_run, sizing="production", side="primary"
                )
            summary = "\n".join([
                f"- active hub now: {pointer.active} ({pointer.hub}; from {source})",
                f"- reverse replication: {reverse.get('summary')}",
                f"- recovery point: {since.isoformat()} (changes after it on both sides are "
                f"conflicts, policy {plan.failback.conflict_policy}: the version not kept live is saved)",
                f"- conflict copies: {len(reverse.get('conflict_copies') or [])}"
                + "".join(f"\n  - {c}" for c in (reverse.get("conflict_copies") or [])[:20]),
                f"- blob conflicts: {reverse.get('blob_conflicts', 0)}; asset conflicts (never overwritten): "
                f"{len(reverse.get('conflicts', []))}",
                f"- will change: flip the pointer to {plan.primary.hub}, disable the secondary's schedules, enable "
                "the primary's, scale the secondary to its standby size",
            ])  # fmt: skip
            if dry_run:
                publish_report("fail-back-report", f"# Fail-back (dry run): plan `{plan.name}`\n\n{summary}")
                run.emit("completed", dry_run=True)
                return {"dry_run": True, "summary": summary}
            decision = approval_gate(
                RUNBOOK, plan, approve=approve, summary=summary, poll_interval=approval_poll_seconds, reason=reason
            )
            run.approved(decision)
            with run.step("flip pointer"):
                written = run.flip_pointer(
                    "primary", lease, decision, reason=reason, previous=pointer, required=("primary", "secondary")
                )
            with run.step("resume forward replication"):
                resumed = set_replication_schedules(plan, active=True)
            with run.step("schedules"):
                set_schedules(factory, "secondary", enabled=False)
                set_schedules(factory, "primary", enabled=True)
            with run.step("secondary to standby"):
                standby = recreate_deployments(
                    plan=plan, approve=True, sizing="standby", scale_only=True, side="secondary"
                )
            result = {
                "active": "primary", "approval": decision, "reverse_replication": reverse,
                "primary_smoke": (primary_serving or {}).get("smoke", []), "standby": standby,
                "timeline": timeline, "seconds": round(time.monotonic() - t0, 1),
                "recovery_point": since.isoformat(), "pointer_written": written,
                "replication_schedules_resumed": resumed,
            }  # fmt: skip
            result["evidence"] = evidence_of_run(run, result)
            lines = [
                f"# Fail-back: plan `{plan.name}`",
                "",
                f"- approval: {decision['decision']} by {decision['approver']} ({decision['reason']})",
                summary,
                "",
                "| step | seconds |",
                "|---|---|",
                *(f"| {k} | {v} |" for k, v in timeline.items()),
            ]
            publish_report(
                "fail-back-report", "\n".join(lines) + evidence_markdown(result["evidence"]),
                reverse.get("conflicts") or None, "fail-back-conflicts",
            )
    logger.info("fail-back done in %.1f s; active hub is %s", result["seconds"], plan.primary.hub)
    run.emit("completed", seconds=result["seconds"])
    return result


def recovery_point(factory: ClientFactory, pointer: ActivePointer) -> tuple[datetime, datetime]:
    """(recovery point, when replication last wrote to the secondary), as the cut-over recorded
    them in the pointer. Never the newest checkpoint: a forward run after the cut-over (refused
    now, but possible with an older version) would move it past the secondary's writes. The
    secondary's writes as the serving side start at the flip at the latest. A pointer without
    them falls back to the last to-secondary checkpoint made before the flip."""
    from datetime import timedelta

    from foundry_dr.blob_sync import failback_thresholds

    margin = timedelta(seconds=factory.plan.failback.clock_margin_seconds)
    if pointer.recovery_point is not None:
        until = pointer.replicated_until or pointer.recovery_point
        return failback_thresholds(pointer.recovery_point, until, pointer.changed_at, margin)
    checkpoint = read_checkpoint(factory, factory.plan.name, direction="to-secondary")
    if checkpoint is None or checkpoint.completed_at > pointer.changed_at:
        raise FailBackRefused(
            "the pointer records no recovery point and no checkpoint from before the cut-over exists, so changes "
            "made on each side cannot be told apart; nothing changed"
        )
    return failback_thresholds(checkpoint.point, checkpoint.completed_at, pointer.changed_at, margin)

