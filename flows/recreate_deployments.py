"""Runbook recreate-deployments: online/batch endpoints, deployments and schedules in the target.

Order: read both sides -> desired state and diff (pure, ``foundry_dr.deployment_plan``) ->
prerequisites (target workspaces, referenced assets and computes: all listed, nothing written
when any is missing) -> approval -> writes, every endpoint in parallel (endpoint, then its
deployments in parallel, then traffic) with schedules alongside -> smoke test -> report.

``side`` is the region written to: ``secondary`` (the default) or ``primary`` (fail-back makes
sure the primary's deployments exist). ``scale_only`` (cut-over, fail-back) only sets instance
counts for ``sizing``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from foundry_dr.clients import ClientFactory
from foundry_dr.deployment_plan import (
    Context,
    Item,
    WorkspacePlan,
    block_on_missing_computes,
    needs_source_for_scaling,
    online_growth,
    plan_workspace,
    scale_workspace,
)
from foundry_dr.errors import EndpointFailed, PrerequisitesMissing, RecreateFailed
from foundry_dr.flows.common import (
    approval_gate,
    cell,
    plan_lock,
    publish_report,
    rejections_end_cancelled,
    run_name,
    runbook_run,
)
from foundry_dr.plan import COMPONENTS, Plan
from foundry_dr.resource_ids import workspace_id
from foundry_dr.sides import Side, other
from foundry_dr.tasks import model_deployments as ai_models
from foundry_dr.tasks.endpoints import (
    apply_endpoint,
    apply_items,
    find_missing,
    read_side,
    references_of,
    vault_uri,
)
from foundry_dr.tasks.quota import check_online_quota
from foundry_dr.tasks.smoke import smoke_test

RUNBOOK = "recreate-deployments"
ENDPOINTS_IN_PARALLEL = 16


def deployment_context(plan: Plan, factory: ClientFactory, source: Side, target: Side, sizing: str) -> Context:
    """The mapping of one recreate-deployments run (also what readiness plans its dry run with)."""
    src, dst = plan.side(source), plan.side(target)
    workspaces = {workspace_id(plan, source, a): workspace_id(plan, target, b)
                  for a, b in zip(src.projects, dst.projects, strict=True)}  # fmt: skip
    return Context(
        workspaces=workspaces, location=dst.location, vault_uri=vault_uri(factory),
        name_suffix=plan.deployments.name_suffix, to_secondary=target == "secondary",
        standby_count=plan.deployments.standby_instance_count,
        strategies={c: plan.strategy.for_component(c) for c in COMPONENTS}, sizing=sizing,  # type: ignore[arg-type]
    )  # fmt: skip


@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK, "side", "sizing"),
      description="Recreate endpoints, deployments and schedules in the other region.",
      task_runner=ThreadPoolTaskRunner(max_workers=ENDPOINTS_IN_PARALLEL))  # fmt: skip
@rejections_end_cancelled
def recreate_deployments(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    sizing: Literal["standby", "production"] = "standby",
    scale_only: bool = False,
    side: Literal["secondary", "primary"] = "secondary",
) -> dict[str, Any] | State:
    logger = get_run_logger()
    target: Side = side
    source: Side = other(side)
    mode = "scale-only" if scale_only else "recreate"
    with runbook_run(RUNBOOK, plan, side=side, sizing=sizing, mode=mode, dry_run=dry_run) as run:
        plan, factory, t0, timings = run.plan, run.factory, run.t0, run.timeline
        # a lease in the secondary's storage, not a Prefect slot a killed run would leak; it may
        # wait as long as a holder may wait for its approval
        with plan_lock(plan, RUNBOOK, "recreate", plan.approvals.timeout_minutes * 60, factory):
            pairs = list(zip(plan.side(source).projects, plan.side(target).projects, strict=True))
            with run.step("read"):
                src_inv, dst_inv = _read(factory, source, target, scale_only)
            ctx = deployment_context(plan, factory, source, target, sizing)
            if scale_only:
                plans = [scale_workspace(src_inv.get(a) if src_inv else None, dst_inv[b], ctx) for a, b in pairs]
            else:
                plans = [plan_workspace(src_inv[a], dst_inv[b], ctx) for a, b in pairs]
            items = [i for p in plans for i in p.items()]
            with run.step("prerequisites"):
                _check_prerequisites(factory, target, dst_inv, items, scale_only, plans)
                if growth := online_growth(items):
                    check_online_quota(factory, target, growth)
                # AI Services model deployments and content filters (issue 17): readiness before any write
                ai = ai_models.prepare(factory, source, target, sizing) if not scale_only else {"skipped": "scale-only"}
            summary = _summary(items)
            decision = approval_gate(RUNBOOK, plan, approve=approve,
                                     summary=f"{mode} in the {target} ({sizing}): {summary}")  # fmt: skip
            results: dict[str, dict[str, Any]] = {}
            smoke: list[dict[str, Any]] = []
            failed: str | None = None
            if not dry_run:
                with run.step("apply"):
                    results, failed = _apply(factory, target, plans)
                    # not after a failed endpoint step: the first permanent failure stops the writes
                    ai_results = ai_models.apply(factory, target, ai["plan"]) if ai.get("plan") and not failed else {}
                # smoke-test whatever must serve: a recreation, or a scale-up to production
                if not failed and (not scale_only or sizing == "production"):
                    with run.step("smoke"):
                        smoke = _smoke(factory, plan, target, plans)
                    bad = [s for s in smoke if not s["ok"]]
                    if bad and plan.deployments.smoke_test.on_failure == "fail":
                        failed = "smoke test failed: " + ", ".join(f"{s['workspace']}/{s['endpoint']}" for s in bad)
            ai_out = ai_models.outcome(ai, ai_results if not dry_run else {})
            publish_report("model-deployments-report", ai_out["markdown"], ai_out["items"], "model-deployments-items")
            if ai_out["errors"] and not failed:
                failed = "AI Services deployments failed: " + "; ".join(ai_out["errors"])
            result = _report(plan, target, sizing, mode, dry_run, decision, items, results, smoke, timings, failed)
            result["model_deployments"], result["changed"] = ai_out, result["changed"] + ai_out["changed"]
            if failed:
                raise RecreateFailed(f"{RUNBOOK}: {failed}")
    result["seconds"] = round(time.monotonic() - t0, 2)
    logger.info("recreate-deployments %s %s: %s", mode, target, result["summary"])
    run.emit("completed", side=side, mode=mode, dry_run=dry_run, changed=result["changed"])
    return result


def _read(factory: ClientFactory, source: Side, target: Side, scale_only: bool) -> tuple[dict | None, dict]:
    """Both sides in parallel; for scale-only the target alone when it carries its production sizes,
    so that a cut-over does not wait on (or fail with) a source region that is down."""
    plan = factory.plan
    dst_f = read_side.submit(factory, target, list(plan.side(target).projects))
    if scale_only:
        dst_inv = dst_f.result()
        if not any(needs_source_for_scaling(inv) for inv in dst_inv.values()):
            return None, dst_inv
    src_f = read_side.submit(factory, source, list(plan.side(source).projects))
    return src_f.result(), dst_f.result()


def _check_prerequisites(factory: ClientFactory, target: Side, dst_inv: dict, items: list[Item],
                         scale_only: bool, plans: list[WorkspacePlan]) -> None:  # fmt: skip
    """Raise before any write, listing everything missing (workspaces, assets, deployments); a missing
    compute blocks only the deployments on it (see block_on_missing_computes)."""
    absent = [inv["id"] for inv in dst_inv.values() if not inv["exists"]]
    if absent:
        raise PrerequisitesMissing(
            f"{len(absent)} target workspace(s) missing (run provision-secondary first): " + ", ".join(absent), absent
        )
    invalid = [f"{i.workspace}/{i.name}: {i.reason}" for i in items if i.action == "invalid"]
    if invalid:
        raise PrerequisitesMissing(
            f"{len(invalid)} name(s) Azure would refuse in the {target} (shorten the name or the plan's "
            "deployments.name_suffix): " + "; ".join(invalid), invalid)  # fmt: skip
    conflicts = [f"{i.workspace}/{i.name}: {i.reason}" for i in items if i.action == "conflict"]
    if conflicts:
        raise PrerequisitesMissing("cannot update in place: " + "; ".join(conflicts), conflicts)
    if scale_only:
        missing = [f"{i.workspace}/{i.name}" for i in items if i.action == "missing" and i.kind != "online-endpoint"]
        if missing:
            raise PrerequisitesMissing(
                f"{len(missing)} deployment(s) missing in the {target} (run recreate-deployments first): "
                + ", ".join(missing), missing)  # fmt: skip
        return
    missing = find_missing(factory, target, references_of(items))
    computes = {m for m in missing if "/computes/" in m.lower()}
    assets = [m for m in missing if m not in computes]
    if assets:
        raise PrerequisitesMissing(
            f"{len(assets)} referenced asset(s) missing in the {target} (run replicate-artifacts first): "
            + ", ".join(assets), assets)  # fmt: skip
    if computes:  # per item: those deployments wait, the rest goes on
        for item in block_on_missing_computes(plans, computes):
            get_run_logger().warning("%s/%s blocked: %s", item.workspace, item.name, item.reason)


def _apply(factory: ClientFactory, target: Side, plans: list[WorkspacePlan]) -> tuple[dict, str | None]:
    """Every endpoint group and the schedules at once (bounded by the task runner); collect results."""
    futures = []
    for p in plans:
        for group in (*p.online, *p.batch):
            if any(i.writes for i in group.items()):
                futures.append((p.workspace, apply_endpoint.submit(factory, target, group)))
        if any(s.writes for s in p.schedules):
            futures.append((p.workspace, apply_items.submit(factory, target, p.schedules)))
    results: dict[str, dict[str, Any]] = {}
    errors = []
    # endpoint creation is the long step (minutes per deployment on Azure): a progress artifact
    # beside the run says how far it is (issue 20, point 4)
    progress = create_progress_artifact(0.0, description=f"Endpoints in the {target}: endpoint groups applied") \
        if futures else None  # fmt: skip
    for done, (workspace, future) in enumerate(futures, start=1):
        outcome = future.result(raise_on_failure=False)
        update_progress_artifact(progress, 100.0 * done / len(futures))
        if isinstance(outcome, EndpointFailed):
            errors.append(f"{workspace}: {outcome}")
            outcome = outcome.results
        elif isinstance(outcome, BaseException):
            errors.append(f"{workspace}: {type(outcome).__name__}: {outcome}")
            continue
        results.update({f"{workspace}/{k}": v for k, v in outcome.items()})
    return results, ("; ".join(errors) if errors else None)


def _smoke(factory: ClientFactory, plan: Plan, target: Side, plans: list[WorkspacePlan]) -> list[dict[str, Any]]:
    sample = plan.deployments.smoke_test.sample_request
    futures = []
    for p in plans:
        for group in p.online:
            if group.endpoint.action == "deferred":
                continue
            futures.append(
                smoke_test.submit(factory, target, p.workspace, group.endpoint.name, group.endpoint.resource_id, sample)
            )
    return [f.result() for f in futures]


def _summary(items: list[Item]) -> str:
    counts: dict[str, int] = {}
    for i in items:
        counts[i.action] = counts.get(i.action, 0) + 1
    return ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to do"


def _report(plan: Plan, target: str, sizing: str, mode: str, dry_run: bool, decision: dict, items: list[Item],
            results: dict, smoke: list[dict], timings: dict, failed: str | None) -> dict[str, Any]:  # fmt: skip
    rows = []
    for i in items:
        row = i.row()
        outcome = results.get(f"{i.workspace}/{i.key}", {})
        row["seconds"] = outcome.get("seconds", "")
        row["error"] = outcome.get("error", "")
        rows.append(row)
    secrets = sorted({f"{i.workspace}/{i.name}: {s}" for i in items for s in i.secrets})
    summary = _summary(items)
    lines = [
        f"# Recreate-deployments {mode} in the {target} ({sizing}){' (dry run)' if dry_run else ''}: "
        f"plan `{plan.name}`", "",
        f"- outcome: **{'FAILED: ' + failed if failed else 'completed'}**",
        f"- approval: {decision['decision']} by {decision['approver']} ({decision['reason']})",
        f"- items: {summary}",
        f"- references remapped: {sum(len(i.remapped) for i in items)}",
        *([f"- secret environment variables referenced in the shared Key Vault (create these secrets there): "
           f"{', '.join(secrets)}"] if secrets else []),
        "", "| workspace | kind | name | action | changes | size | seconds | error |",
        "|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(cell(r[k]) for k in ("workspace", "kind", "name", "action", "changes", "size", "seconds",
                                                 "error")) + " |" for r in rows),
        "", "| smoke test | status | latency ms | served by | ok |", "|---|---|---|---|---|",
        *(f"| {s['workspace']}/{s['endpoint']} | {s['status']} | {s['latency_ms']} | {s['deployment']} | "
          f"{'yes' if s['ok'] else 'NO: ' + str(s['error'])} |" for s in smoke),
        "", "| step | seconds |", "|---|---|", *(f"| {k} | {v} |" for k, v in timings.items()),
    ]  # fmt: skip
    publish_report("recreate-deployments-report", "\n".join(lines), rows, "recreate-deployments-items",
                   description=f"Recreate-deployments report ({mode}, {target}, {sizing}) for plan {plan.name}",
                   table_description=f"Endpoints, deployments and schedules in the {target} for plan {plan.name}")
    changed = sum(1 for i in items if i.writes and "seconds" in results.get(f"{i.workspace}/{i.key}", {}))
    return {
        "summary": summary, "changed": changed, "dry_run": dry_run, "side": target, "sizing": sizing, "mode": mode,
        "items": rows, "smoke": smoke, "secrets_referenced": secrets, "timings": timings, "failed": failed,
    }  # fmt: skip
