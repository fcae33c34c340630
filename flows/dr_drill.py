"""Runbook dr-drill: a test failover into the secondary that never touches production routing.

Like Azure Site Recovery's test failover: provision (as the strategy needs) -> replicate ->
bring the secondary to production size -> smoke tests -> measure achieved RTO (drill start
-> secondary serving) and RPO (age of the recovery point when the secondary serves) against
the plan's objectives -> clean up what the drill changed (also when a step fails) -> report
with the trend of the last drills. The active-hub pointer is read, never written.

Fenced (``fence_primary``; the scheduled drill): the unplanned path, as flows/cut_over.py runs it
with the primary down: no provisioning or replication, the recovery point and the pointer read from
the secondary's store, the secondary scaled from what it holds; every client refuses the primary
(foundry_dr/fence.py) and the report counts the refused calls. Isolated (plan ``drill.isolated``):
the drill serves from drill-suffixed copies of the secondary's endpoints, recorded before they are
created and removed at the end, by the next drill, or by ``foundry-dr drill cleanup``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from prefect import flow, get_run_logger

from foundry_dr.clients import ClientFactory
from foundry_dr.drill import (
    DrillRecord,
    drill_context,
    due_for_cleanup,
    evaluate_objectives,
    plan_drill_target,
    render_drill_report,
)
from foundry_dr.errors import DrillRefused, PrerequisitesMissing, RecordChanged
from foundry_dr.fence import Fence, fenced
from foundry_dr.flows.common import (
    emit,
    failover_lock,
    flow_run_id,
    flow_run_id_or_local,
    publish_report,
    run_name,
    runbook_run,
    timed,
)
from foundry_dr.flows.evidence import evidence_markdown, evidence_of_drill
from foundry_dr.flows.provision_secondary import provision_secondary
from foundry_dr.flows.recreate_deployments import recreate_deployments
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr.resource_ids import workspace_id
from foundry_dr.stores.checkpoint import read_checkpoint
from foundry_dr.stores.drill import append_drill, mark_cleaned, read_created, record_created
from foundry_dr.stores.pointer import AUTHORITY, SIDES, read_pointer
from foundry_dr.stores.records import describe_failure
from foundry_dr.tasks.drill_target import delete_drill_resources
from foundry_dr.tasks.endpoints import apply_endpoint, read_side, vault_uri
from foundry_dr.tasks.smoke import smoke_test

RUNBOOK = "dr-drill"




@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK),
      description="Test failover into the secondary; measures RTO/RPO; never touches the pointer.")  # fmt: skip
def dr_drill(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    lock_wait_seconds: float | None = None,
    fence_primary: bool = False,
) -> dict[str, Any]:
    """``fence_primary``: rehearse the unplanned cut-over: no provisioning or replication from the
    primary, the secondary serves from the last checkpoint, and every client refuses the primary
    (foundry_dr/fence.py); a refused call fails the drill and is named in the report."""
    logger = get_run_logger()
    with runbook_run(RUNBOOK, plan, dry_run=dry_run) as run, fenced(run.plan, fence_primary) as fence:
        plan, factory, started, t0, steps = run.plan, run.factory, run.started, run.t0, run.timeline
        factory.attach_fence(fence)  # built before the fence: fence it now, before its first client
        isolated = plan.drill.isolated
        outcome: dict[str, Any] = {"steps": steps, "errors": [], "fenced": fence is not None, "isolated": isolated}
        run_id = flow_run_id_or_local(started)
        with failover_lock(plan, RUNBOOK, lock_wait_seconds, factory):
            pointer_before = _pointer(factory, fence)
            if pointer_before.active != "primary":
                raise DrillRefused(
                    f"the secondary ({pointer_before.hub}) is serving production since {pointer_before.changed_at}: "
                    "a drill would scale it down afterwards. Fail back first, or drill after the outage."
                )
            before = _checkpoint(factory, fence)
            outcome["checkpoint_age_at_start"] = round(before.age_seconds(), 1) if before else None
            if isolated and not dry_run:  # leftovers of drills that died: this drill holds the lock
                with timed(steps, "cleanup of earlier drills"):
                    outcome["cleaned"] = cleanup_drill_targets(factory, all_ages=True, except_run=run_id)
            scaled_up, checkpoint = False, None
            try:
                if fence is None:
                    with timed(steps, "provision-secondary"):
                        outcome["provision"] = _summary(
                            provision_secondary(plan=plan, approve=approve, dry_run=dry_run)
                        )
                    with timed(steps, "replicate-artifacts"):
                        outcome["replication"] = _summary(
                            replicate_artifacts(plan=plan, approve=approve, dry_run=dry_run)
                        )
                if isolated:
                    with timed(steps, "drill target"):
                        outcome["smoke"] = _serve_isolated(factory, run_id, started, outcome, dry_run)
                else:
                    with timed(steps, "recreate-deployments"):
                        scaled_up = not dry_run
                        # fenced: as an unplanned cut-over does (flows/cut_over.py), scale what the
                        # secondary holds; a hot-cold secondary must recreate, from the primary
                        cold = plan.strategy.for_component("online_endpoints") == "hot-cold"
                        serving = recreate_deployments(
                            plan=plan, approve=approve, dry_run=dry_run, sizing="production", side="secondary",
                            scale_only=fence is not None and not cold,
                        )  # fmt: skip
                    outcome["smoke"] = (serving or {}).get("smoke", [])
                outcome["rto_seconds"] = round(time.monotonic() - t0, 1)
                checkpoint = _checkpoint(factory, fence)
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
                if isolated and not dry_run:
                    with timed(steps, "cleanup"):
                        try:
                            outcome["cleaned"] = [
                                *outcome.get("cleaned", []), *cleanup_drill_targets(factory, only_run=run_id)
                            ]
                        except Exception as exc:  # noqa: BLE001 - reported; the next drill or `drill cleanup` retries
                            outcome["errors"].append(f"cleanup failed: {type(exc).__name__}: {exc}")
                pointer_after = _pointer(factory, fence)
                outcome["pointer_untouched"] = _decision(pointer_after) == _decision(pointer_before)
                if fence is not None:
                    outcome["primary_calls"] = list(fence.calls)
                    outcome["fence_summary"] = fence.summary()
                _record(factory, started, outcome, dry_run, checkpoint)
    passed = outcome["verdict"]["passed"]
    logger.info(
        "dr-drill %s: RTO %s s, RPO %s s%s",
        "PASSED" if passed else "FAILED",
        outcome.get("rto_seconds"),
        outcome.get("rpo_seconds"),
        f"; {outcome['fence_summary']}" if outcome.get("fenced") else "",
    )
    emit(
        RUNBOOK,
        "completed",
        plan,
        passed=passed,
        rto_seconds=outcome.get("rto_seconds"),
        rpo_seconds=outcome.get("rpo_seconds"),
        primary_calls=len(outcome["primary_calls"]) if "primary_calls" in outcome else None,
    )
    return outcome


def _checkpoint(factory: ClientFactory, fence: Fence | None) -> Any:
    """The recovery point: fenced, the one an unplanned cut-over uses (flows/cut_over.py), read
    from the secondary's store alone (the primary's copy is the primary's)."""
    if fence is None:
        return read_checkpoint(factory, factory.plan.name)
    return read_checkpoint(factory, factory.plan.name, sides=("secondary",), direction="to-secondary")


def _pointer(factory: ClientFactory, fence: Fence | None) -> Any:
    """The pointer as a drill reads it: fenced, from the authority alone (the secondary's store;
    foundry_dr/stores/pointer.py), since reading the primary's mirror would be a call to the primary."""
    return read_pointer(factory, sides=(AUTHORITY,) if fence is not None else SIDES)[0]


def _serve_isolated(
    factory: ClientFactory, run_id: str, started: datetime, outcome: dict[str, Any], dry_run: bool
) -> list[dict[str, Any]]:
    """Drill copies of the secondary's online endpoints (foundry_dr/drill.py), recorded in the
    secondary's storage before they are created, then smoke-tested. The secondary's own
    deployments are only read."""
    plan = factory.plan
    projects = list(plan.secondary.projects)
    inventory = read_side(factory, "secondary", projects)
    ws_ids = [workspace_id(plan, "secondary", w) for w in projects]
    ctx = drill_context(ws_ids, plan.secondary.location, vault_uri(factory), plan.drill.suffix)
    plans = [plan_drill_target(inventory[w], ctx, run_id) for w in projects]
    groups = [(p.workspace, g) for p in plans for g in p.online]
    invalid = [f"{i.workspace}/{i.name}: {i.reason}" for _, g in groups for i in g.items() if i.action == "invalid"]
    if invalid:
        raise PrerequisitesMissing(
            "drill endpoint names Azure would refuse (shorten the endpoint names or drill.suffix): "
            + "; ".join(invalid),
            invalid,
        )
    if not groups:
        raise PrerequisitesMissing(
            "no online endpoint in the secondary to copy for an isolated drill (run recreate-deployments first, "
            "or set drill.isolated: false)",
            [],
        )
    created = [i.resource_id for _, g in groups for i in (g.endpoint, *g.deployments)]
    outcome["drill_target"] = created
    if dry_run:
        return []
    record_created(factory, run_id, started, created)  # before anything exists: a killed drill leaves a record
    futures = [apply_endpoint.submit(factory, "secondary", g) for _, g in groups]
    for f in futures:
        f.result()
    sample = plan.deployments.smoke_test.sample_request
    smokes = [
        smoke_test.submit(factory, "secondary", ws, g.endpoint.name, g.endpoint.resource_id, sample)
        for ws, g in groups
    ]
    return [s.result() for s in smokes]


def cleanup_drill_targets(
    factory: ClientFactory, *, all_ages: bool = False, except_run: str | None = None, only_run: str | None = None
) -> list[dict[str, Any]]:
    """Remove what drills created (``only_run``: that drill's; else those due, see
    ``foundry_dr.drill.due_for_cleanup``); an entry is marked cleaned once all its resources are gone."""
    plan = factory.plan
    entries = read_created(factory)
    if only_run is not None:
        due = [e for e in entries if e.flow_run_id == only_run and e.cleaned_at is None]
    else:
        due = due_for_cleanup(entries, datetime.now(UTC), plan.drill.max_lifetime_hours,
                              except_run=except_run, all_ages=all_ages)  # fmt: skip
    results: list[dict[str, Any]] = []
    done: list[str] = []
    for entry in due:
        removed = delete_drill_resources(factory, entry.resources)
        results += [{**r, "drill": entry.flow_run_id} for r in removed]
        if not any(r.get("error") for r in removed):
            done.append(entry.flow_run_id)
    if done:
        mark_cleaned(factory, done, datetime.now(UTC))
    return results


def _decision(pointer: Any) -> tuple:
    """What identifies an approved routing decision (a default pointer is rebuilt on each read)."""
    return (pointer.active, pointer.hub_id, pointer.version, pointer.flow_run_id, pointer.runbook)


def _summary(result: Any) -> Any:
    if isinstance(result, dict):
        return result.get("summary") or {k: v for k, v in result.items() if isinstance(v, str | int | float | bool)}
    return result


def _record(factory: ClientFactory, started: datetime, outcome: dict[str, Any], dry_run: bool,
            checkpoint: Any) -> None:
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
        primary_calls=outcome.get("primary_calls"),
    )
    outcome["verdict"] = verdict
    record = DrillRecord(
        started_at=started,
        flow_run_id=flow_run_id(),
        dry_run=dry_run,
        rto_seconds=outcome.get("rto_seconds"),
        rpo_seconds=outcome.get("rpo_seconds"),
        passed=verdict["passed"],
        fenced=outcome.get("fenced", False),
        primary_calls=len(outcome["primary_calls"]) if "primary_calls" in outcome else None,
        plan_digest=plan.digest,
    )
    try:
        history = append_drill(factory, record)
    except (AzureError, RecordChanged) as exc:  # the drill's result stands; say the history is missing
        history = [record]
        outcome["errors"].append(f"drill history not recorded in the secondary's storage: {describe_failure(exc)}")
    outcome["evidence"] = None if dry_run else evidence_of_drill(factory, started, outcome, history, checkpoint)
    markdown = render_drill_report(plan.name, outcome, history) + evidence_markdown(outcome["evidence"])
    outcome["report_markdown"] = markdown
    publish_report("dr-drill-report", markdown)
