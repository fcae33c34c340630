"""Runbook readiness: is the secondary a standby a cut-over could use right now? Changes nothing.

Scheduled (prefect.yaml, every 30 minutes as AWS ARC re-evaluates a region-switch plan) and
callable from the CLI. Each check reads through the same code the runbooks act with, in dry-run
mode (replicate-artifacts' asset, image and link planning; recreate-deployments' plan; the AI
Services and role-assignment decisions), so a drift the check reports is exactly what the next
run would change. The verdict and score are ``foundry_dr.readiness``'s; the verdict is kept in the
secondary's storage (``foundry-dr status`` shows it), published as a table artifact, and a
degraded verdict emits ``foundry-dr.readiness.degraded`` for automations to route.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from prefect import flow, get_run_logger
from prefect.states import State

from foundry_dr import drift
from foundry_dr import readiness as rules
from foundry_dr import role_assignments as ra
from foundry_dr.checkpoint import rpo_status
from foundry_dr.clients import ClientFactory
from foundry_dr.deployment_plan import online_growth, plan_workspace, scale_workspace
from foundry_dr.errors import PrerequisitesMissing, QuotaExceeded, RecordChanged
from foundry_dr.flows.common import flow_run_id, publish_report, rejections_end_cancelled, run_name, runbook_run
from foundry_dr.flows.recreate_deployments import deployment_context
from foundry_dr.plan import Plan
from foundry_dr.readiness import Check
from foundry_dr.stores.checkpoint import read_checkpoint
from foundry_dr.stores.drill import read_drills
from foundry_dr.stores.pointer import read_pointer_detail
from foundry_dr.stores.readiness import write_readiness
from foundry_dr.stores.records import describe_failure
from foundry_dr.tasks import model_deployments as ai_models
from foundry_dr.tasks.assets import replicate_assets
from foundry_dr.tasks.endpoints import read_side
from foundry_dr.tasks.quota import check_online_quota
from foundry_dr.tasks.registry import replicate_images
from foundry_dr.tasks.role_assignments import decide, inventory_role_assignments
from foundry_dr.tasks.workspace import inventory_hub

RUNBOOK = "readiness"


@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK),
      description="Check, without changing anything, that the secondary could take over now.")  # fmt: skip
@rejections_end_cancelled
def readiness(plan: Plan | str, approve: bool = False, dry_run: bool = False) -> dict[str, Any] | State:
    """``approve`` is accepted like every runbook's and unused (nothing here needs approval);
    ``dry_run`` skips keeping the verdict in the secondary's storage."""
    del approve
    with runbook_run(RUNBOOK, plan, dry_run=dry_run) as run:
        plan, factory = run.plan, run.factory
        checks: list[Check] = []
        with run.step("pointer and checkpoint"):
            checks.append(_check("serving side", lambda: _serving(factory)))
            checks.append(_check("recovery point (RPO)", lambda: rules.recovery_point(
                rpo_status(read_checkpoint(factory, plan.name), plan.objectives.rpo_minutes))))
        with run.step("assets and images"):
            checks.append(_check("asset versions", lambda: _assets(factory)))
            checks.append(_check("images", lambda: _images(factory)))
        with run.step("deployments and quota"):
            inventories = functools.cache(lambda: _inventories(factory))  # read on first use, by either check
            checks.append(_check("online deployments", lambda: _deployments(factory, inventories())))
            checks.append(_check("AI Services model deployments", lambda: _model_deployments(factory)))
            checks.append(_check("quota headroom", lambda: _quota(factory, inventories())))
        with run.step("settings and role assignments"):
            checks.append(_check("workspace settings and network", lambda: rules.workspace_settings(
                drift.drift_rows(plan, inventory_hub(factory, "primary"), inventory_hub(factory, "secondary")))))
            checks.append(_check("role assignments", lambda: rules.role_assignments(
                ra.drift_rows(decide(factory, inventory_role_assignments(factory))))))
        with run.step("drills"):
            checks += _drills(factory)
        result = rules.judge(plan.name, plan.digest, datetime.now(UTC), checks, flow_run_id())
        markdown = rules.render(result)
        if not dry_run:
            try:
                write_readiness(factory, result)
            except (AzureError, RecordChanged) as exc:  # the verdict stands; say it was not kept
                markdown += f"\n\nThe verdict could not be kept in the secondary's storage: {describe_failure(exc)}"
        publish_report("readiness-report", markdown, rules.table(result), "readiness-checks")
        if result.verdict == "degraded":
            run.emit("degraded", score=result.score, reasons=result.reasons)
        run.emit("completed", verdict=result.verdict, score=result.score)
    get_run_logger().info("readiness of %s: %s (score %d)", plan.name, result.verdict, result.score)
    out = result.model_dump(mode="json")
    # the CLI's contract for check-like runbooks (as dr-drill's): checks by name, passed or not
    out["verdict"] = {"verdict": result.verdict, "score": result.score,
                      "passed": result.verdict == "ready",
                      "checks": {c.name: c.ok is True for c in result.checks}}  # fmt: skip
    out["report_markdown"] = markdown
    return out


def _check(name: str, judge: Callable[[], Check]) -> Check:
    """One check; a read that fails makes it NOT CHECKED (counted as failed), never fails the run."""
    try:
        return judge()
    except Exception as exc:  # noqa: BLE001 - any failed read is this check's outcome, with its reason
        why = describe_failure(exc) if isinstance(exc, AzureError) else f"{type(exc).__name__}: {exc}"
        return rules.not_checked(name, why.splitlines()[0][:300])


def _serving(factory: ClientFactory) -> Check:
    reading = read_pointer_detail(factory, allow_stale=True)
    return rules.serving_side(reading.pointer.active, stale=bool(reading.failed) and not reading.never_flipped)


def _assets(factory: ClientFactory) -> Check:
    report = replicate_assets(factory, "to-secondary", dry_run=True)
    return rules.asset_versions([a for ws in report.workspaces for a in ws.actions], report.item_failures)


def _images(factory: ClientFactory) -> Check:
    report = replicate_images(factory, "to-secondary", dry_run=True)
    return rules.images(report.mode, report.replication, report.imports, report.problems)


def _inventories(factory: ClientFactory) -> tuple[dict, dict]:
    """Both sides' endpoints, in parallel (read once per run: the deployments and quota checks share it)."""
    plan = factory.plan
    src = read_side.submit(factory, "primary", list(plan.primary.projects))
    dst = read_side.submit(factory, "secondary", list(plan.secondary.projects))
    return src.result(), dst.result()


def _pairs(factory: ClientFactory) -> list[tuple[str, str]]:
    plan = factory.plan
    return list(zip(plan.primary.projects, plan.secondary.projects, strict=True))


def _deployments(factory: ClientFactory, inventories: tuple[dict, dict]) -> Check:
    src, dst = inventories
    ctx = deployment_context(factory.plan, factory, "primary", "secondary", "standby")
    items = [i for a, b in _pairs(factory) for i in plan_workspace(src[a], dst[b], ctx).items()]
    return rules.online_deployments([{"workspace": i.workspace, "kind": i.kind, "name": i.name, "action": i.action,
                                      "reason": i.reason} for i in items if i.writes or i.action == "invalid"])


def _model_deployments(factory: ClientFactory) -> Check:
    try:
        prepared = ai_models.prepare(factory, "primary", "secondary", "standby")
    except PrerequisitesMissing as exc:
        return rules.model_deployments(None, [], exc.missing)
    if "plan" not in prepared:
        return rules.model_deployments(prepared.get("skipped") or "skipped", [])
    return rules.model_deployments(None, [i.row() for i in prepared["plan"].items if i.writes])


def _quota(factory: ClientFactory, inventories: tuple[dict, dict]) -> Check:
    """What cut-over's scale-up to production would need, against the secondary's quota now: online
    deployments (with Azure ML's upgrade reserve) and AI Services capacity."""
    src, dst = inventories
    ctx = deployment_context(factory.plan, factory, "primary", "secondary", "production")
    growth = online_growth([i for a, b in _pairs(factory) for i in scale_workspace(src[a], dst[b], ctx).items()])
    problems: list[str] = []
    if growth:
        try:
            check_online_quota.fn(factory, "secondary", growth)
        except QuotaExceeded as exc:
            problems += exc.problems
    try:
        ai_models.prepare(factory, "primary", "secondary", "production")
    except PrerequisitesMissing as exc:
        problems += [f"AI Services at production capacity: {m}" for m in exc.missing]
    return rules.quota_headroom(problems, len(growth))


def _drills(factory: ClientFactory) -> list[Check]:
    plan = factory.plan
    try:
        history = read_drills(factory)
    except AzureError as exc:
        why = f"the drill history could not be read: {describe_failure(exc)}"
        return [rules.not_checked("last fenced drill", why), rules.not_checked("plan unchanged since the drill", why)]
    return list(rules.fenced_drill(history, datetime.now(UTC), plan.drill.max_age_days, plan.digest))
