"""Runbook dr-drill: a test failover into the secondary that never touches production routing.

Like Azure Site Recovery's test failover: provision (as the strategy needs) -> replicate ->
bring the secondary to production size -> smoke tests -> measure achieved RTO (drill start
-> secondary serving) and RPO (age of the recovery point when the secondary serves) against
the plan's objectives -> clean up what the drill changed (also when a step fails) -> report
with the trend of the last drills. The active-hub pointer is read, never written.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from azure.core.exceptions import AzureError
from prefect import flow, get_run_logger

from foundry_dr.clients import ClientFactory
from foundry_dr.drill import DrillRecord, evaluate_objectives, render_drill_report
from foundry_dr.errors import DrillRefused, RecordChanged
from foundry_dr.flows.common import emit, failover_lock, flow_run_id, publish_report, run_name, runbook_run, timed
from foundry_dr.flows.provision_secondary import provision_secondary
from foundry_dr.flows.recreate_deployments import recreate_deployments
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr.stores.checkpoint import read_checkpoint
from foundry_dr.stores.drill import append_drill
from foundry_dr.stores.pointer import read_pointer
from foundry_dr.stores.records import describe_failure

RUNBOOK = "dr-drill"




@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK),
      description="Test failover into the secondary; measures RTO/RPO; never touches the pointer.")  # fmt: skip
def dr_drill(
    plan: Plan | str, approve: bool = False, dry_run: bool = False, lock_wait_seconds: float | None = None
) -> dict[str, Any]:
    logger = get_run_logger()
    scaled_up = False
    with runbook_run(RUNBOOK, plan, dry_run=dry_run) as run:
        plan, factory, started, t0, steps = run.plan, run.factory, run.started, run.t0, run.timeline
        outcome: dict[str, Any] = {"steps": steps, "errors": []}
        with failover_lock(plan, RUNBOOK, lock_wait_seconds, factory):
            pointer_before, _ = read_pointer(factory)
            if pointer_before.active != "primary":
                raise DrillRefused(
                    f"the secondary ({pointer_before.hub}) is serving production since {pointer_before.changed_at}: "
                    "a drill would scale it down afterwards. Fail back first, or drill after the outage."
                )
            before = read_checkpoint(factory, plan.name)
            outcome["checkpoint_age_at_start"] = round(before.age_seconds(), 1) if before else None
            try:
                with timed(steps, "provision-secondary"):
                    outcome["provision"] = _summary(provision_secondary(plan=plan, approve=approve, dry_run=dry_run))
                with timed(steps, "replicate-artifacts"):
                    outcome["replication"] = _summary(replicate_artifacts(plan=plan, approve=approve, dry_run=dry_run))
                with timed(steps, "recreate-deployments"):
                    scaled_up = not dry_run
                    serving = recreate_deployments(
                        plan=plan, approve=approve, dry_run=dry_run, sizing="production", side="secondary"
                    )
                outcome["smoke"] = (serving or {}).get("smoke", [])
                outcome["rto_seconds"] = round(time.monotonic() - t0, 1)
                checkpoint = read_checkpoint(factory, plan.name)
                outcome["rpo_seconds"] = round(checkpoint.age_seconds(), 1) if checkpoint else None
            except Exception as exc:  # the drill failed: still clean up, then report and re-raise
                outcome["errors"].append(f"{type(exc).__name__}: {exc}")
                raise
            finally:
                if scaled_up:
                    with timed(steps, "cleanup"):
                        try:
                            outcome["cleanup"] = _summary(
                                recreate_deployments(
                                    plan=plan, approve=True, sizing="standby", scale_only=True, side="secondary"
                                )
                            )
                        except Exception as exc:  # noqa: BLE001 - reported; the drill result stands
                            outcome["errors"].append(f"cleanup failed: {type(exc).__name__}: {exc}")
                pointer_after, _ = read_pointer(factory)
                outcome["pointer_untouched"] = _decision(pointer_after) == _decision(pointer_before)
                _record(factory, started, outcome, dry_run)
    passed = outcome["verdict"]["passed"]
    logger.info(
        "dr-drill %s: RTO %s s, RPO %s s",
        "PASSED" if passed else "FAILED",
        outcome.get("rto_seconds"),
        outcome.get("rpo_seconds"),
    )
    emit(
        RUNBOOK,
        "completed",
        plan,
        passed=passed,
        rto_seconds=outcome.get("rto_seconds"),
        rpo_seconds=outcome.get("rpo_seconds"),
    )
    return outcome


def _decision(pointer: Any) -> tuple:
    """What identifies an approved routing decision (a default pointer is rebuilt on each read)."""
    return (pointer.active, pointer.hub_id, pointer.version, pointer.flow_run_id, pointer.runbook)


def _summary(result: Any) -> Any:
    if isinstance(result, dict):
        return result.get("summary") or {k: v for k, v in result.items() if isinstance(v, str | int | float | bool)}
    return result


def _record(factory: ClientFactory, started: datetime, outcome: dict[str, Any], dry_run: bool) -> None:
    """Judge the objectives, keep the drill in the history (in the secondary region) and publish
    the report."""
    plan = factory.plan
    verdict = evaluate_objectives(
        outcome.get("rto_seconds"),
        outcome.get("rpo_seconds"),
        plan.objectives.rto_minutes,
        plan.objectives.rpo_minutes,
        smoke=outcome.get("smoke", []),
        errors=outcome["errors"],
        pointer_untouched=outcome.get("pointer_untouched", False),
    )
    outcome["verdict"] = verdict
    record = DrillRecord(
        started_at=started,
        flow_run_id=flow_run_id(),
        dry_run=dry_run,
        rto_seconds=outcome.get("rto_seconds"),
        rpo_seconds=outcome.get("rpo_seconds"),
        passed=verdict["passed"],
    )
    try:
        history = append_drill(factory, record)
    except (AzureError, RecordChanged) as exc:  # the drill's result stands; say the history is missing
        history = [record]
        outcome["errors"].append(f"drill history not recorded in the secondary's storage: {describe_failure(exc)}")
    markdown = render_drill_report(plan.name, outcome, history)
    outcome["report_markdown"] = markdown
    publish_report("dr-drill-report", markdown)
