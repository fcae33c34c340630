"""Runbook replicate-artifacts: blobs, asset metadata, images and hub links into the other side.

Order: approval (if the plan asks) -> inventory of the source -> blobs -> datastores and
connections -> asset metadata -> images -> checkpoint (only when everything succeeded) ->
report. ``direction="to-primary"`` is the reverse used by fail-back.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.concurrency.sync import concurrency

from flows.common import approval_gate, emit, flow_run_id, publish_report, resolve_plan, timed
from foundry_dr.checkpoint import Checkpoint, rpo_status
from foundry_dr.clients import ClientFactory, Side
from foundry_dr.plan import Plan
from tasks.checkpoint import read_checkpoint, write_checkpoint
from tasks.inventory import snapshot_inventory
from tasks.locks import ensure_limit
from tasks.storage import BlobReplicationFailed, replicate_blobs

RUNBOOK = "replicate-artifacts"
Direction = Literal["to-secondary", "to-primary"]


def _sides(direction: Direction) -> tuple[Side, Side]:
    return ("primary", "secondary") if direction == "to-secondary" else ("secondary", "primary")


@flow(name=RUNBOOK, description="Replicate blobs, asset metadata, images and hub links into the other region.")
def replicate_artifacts(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    direction: Direction = "to-secondary",
    verify: Literal["changed", "all"] = "changed",
) -> dict[str, Any]:
    plan = resolve_plan(plan)
    logger = get_run_logger()
    source, destination = _sides(direction)
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    emit(RUNBOOK, "started", plan, direction=direction, dry_run=dry_run)
    factory = ClientFactory(plan)
    lock = ensure_limit(f"foundry-dr-replicate-{plan.name}")
    try:
        with concurrency(lock, occupy=1, timeout_seconds=plan.approvals.timeout_minutes * 60, strict=True):
            decision = approval_gate(
                RUNBOOK, plan, approve=approve,
                summary=f"Replicate {source} -> {destination} ({'dry run' if dry_run else 'changes data'}).",
            )  # fmt: skip
            with timed(timings, "inventory"):
                inventory = snapshot_inventory(factory, source)
            with timed(timings, "blobs"):
                try:
                    blobs = replicate_blobs(plan, factory, direction, dry_run, verify)
                except BlobReplicationFailed as exc:
                    _report(plan, direction, dry_run, decision, exc.report, None, timings, failed=str(exc))
                    raise
            previous = read_checkpoint(factory, plan.name)
            checkpoint = None
            if not dry_run:
                checkpoint = Checkpoint(
                    plan=plan.name, direction=direction, started_at=started_at, completed_at=datetime.now(UTC),
                    flow_run_id=flow_run_id(), source_side=source,
                    counts={"blobs": asdict(blobs.totals)},
                    blob_shards=[r for r in blobs.table()], inventory=inventory,
                )  # fmt: skip
                with timed(timings, "checkpoint"):
                    write_checkpoint(factory, checkpoint, destination)
            result = _report(plan, direction, dry_run, decision, blobs, checkpoint or previous, timings)
    except Exception as exc:
        emit(RUNBOOK, "failed", plan, error=type(exc).__name__, direction=direction)
        raise
    finally:
        factory.close()
    result["seconds"] = round(time.monotonic() - t0, 2)
    logger.info("replicate-artifacts %s: %s", direction, result["summary"])
    emit(RUNBOOK, "completed", plan, direction=direction, dry_run=dry_run, changed=result["changed"])
    return result


def _report(plan: Plan, direction: str, dry_run: bool, decision: dict, blobs: Any, checkpoint: Checkpoint | None,
            timings: dict[str, float], failed: str | None = None) -> dict[str, Any]:
    rpo = rpo_status(checkpoint, plan.objectives.rpo_minutes)
    lines = [
        f"# replicate-artifacts {direction}{' (dry run)' if dry_run else ''}: plan `{plan.name}`",
        "",
        f"- outcome: **{'FAILED: ' + failed if failed else 'completed'}**",
        f"- approval: {decision['decision']} by {decision['approver']} ({decision['reason']})",
        f"- blobs: {blobs.summary()}",
        f"- RPO after the run: {rpo['rpo_seconds']} s (objective {rpo['objective_seconds']:.0f} s, "
        f"{'met' if rpo['met'] else 'NOT met'}); checkpoint {rpo['checkpoint']}",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in timings.items()),
    ]
    rows = [r for r in blobs.table() if r.get("failed") or r.get("error")]
    publish_report("replicate-artifacts-report", "\n".join(lines), rows or None, "replicate-artifacts-failures")
    return {"summary": blobs.summary(), "changed": blobs.changed, "blobs": asdict(blobs.totals), "rpo": rpo,
            "dry_run": dry_run, "direction": direction}
