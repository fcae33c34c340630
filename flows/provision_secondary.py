"""Runbook provision-secondary: the secondary hub as a literal ARM template, quota-checked,
previewed, approved, deployed and verified.

Order (docs/runbooks.md, "provision-secondary"): inventory the primary (and what the secondary already has) ->
map to the desired secondary -> quota check -> template (artifact, ``template_out``) ->
soft-delete check -> what-if -> approval -> resource group -> recover soft-deleted ->
deploy (incremental) -> verify -> drift report. Nothing is written before the approval; a
re-run whose what-if is all NoChange deploys nothing and asks no approval.

Soft delete: the plan model has no field for it yet, so recovery is the flow parameter
``recover_soft_deleted`` (off: the run fails before any write, naming the command to run).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.states import State

from foundry_dr import drift
from foundry_dr.arm_template import render, template_problems
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import (
    DeploymentFailed,
    QuotaExceeded,
    SoftDeletedBlocking,
    VerificationFailed,
)
from foundry_dr.flows.common import (
    approval_gate,
    ensure_concurrency_limit,
    now_iso,
    publish_report,
    rejections_end_cancelled,
    run_name,
    runbook_run,
    timed,
)
from foundry_dr.plan import Plan
from foundry_dr.quota import check, cores_needed
from foundry_dr.secondary import map_to_secondary
from foundry_dr.tasks.quota import read_quota
from foundry_dr.tasks.role_assignments import (
    apply_role_assignments,
    inventory_role_assignments,
    role_assignment_rows,
)
from foundry_dr.tasks.role_assignments import decide as decide_role_assignments
from foundry_dr.tasks.templates import deploy, ensure_resource_group, has_changes, summarize, what_if
from foundry_dr.tasks.workspace import find_soft_deleted, inventory_hub, recover_soft_deleted, verify_secondary
from foundry_dr.what_if import classify

RUNBOOK = "provision-secondary"
APPROVAL_POLL_SECONDS = 2


@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK),
      description="Provision the secondary hub from the primary's live state (ARM template).")  # fmt: skip
@rejections_end_cancelled
def provision_secondary(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    template_out: str | None = None,
    recover_soft_deleted: bool = False,
) -> dict[str, Any] | State:
    logger = get_run_logger()
    with runbook_run(RUNBOOK, plan, dry_run=dry_run) as run:
        plan, factory, t0, timings = run.plan, run.factory, run.t0, run.timeline
        result: dict[str, Any] = {"plan": plan.name, "dry_run": dry_run, "started_at": now_iso(), "deployed": False,
                                  "resource_group_created": False, "recovered": [], "approval": None}
        try:
            lock = ensure_concurrency_limit(f"foundry-dr-provision-{plan.name}")
            with concurrency(lock, occupy=1, timeout_seconds=plan.approvals.timeout_minutes * 60, strict=True):
                _run(plan, factory, result, timings, approve, dry_run, template_out, recover_soft_deleted)
        except Exception as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
            _publish(plan, result, timings)
            raise
    result["seconds"] = round(time.monotonic() - t0, 2)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.get("what_if", {}).items()))
    result["summary"] = f"{result['status']}: {counts or 'nothing to do'}" + (
        f"; {len(result['actions'])} action(s) for the operator" if result.get("actions") else "")
    _publish(plan, result, timings)
    logger.info("provision-secondary: %s", result["status"])
    run.emit("completed", dry_run=dry_run, status=result["status"], deployed=result["deployed"])
    return result


def _run(plan: Plan, factory: ClientFactory, result: dict, timings: dict[str, float], approve: bool, dry_run: bool,
         template_out: str | None, recover: bool) -> None:
    logger = get_run_logger()
    with timed(timings, "inventory"):
        primary = inventory_hub(factory, "primary")
        secondary = inventory_hub(factory, "secondary")
    mapping = map_to_secondary(plan, primary, secondary)
    result.update(actions=mapping.actions, skipped=mapping.skipped, notes=mapping.notes)

    # quota before anything else can write
    with timed(timings, "quota"):
        quota = read_quota(factory, plan.secondary.location)
        needed = cores_needed(mapping.desired["computes"], secondary["computes"], quota["sizes"])
        problems = check(needed, quota["usages"], plan.secondary.location)
    result["quota"] = {"needed": needed, "problems": problems,
                       "available": {f: quota["usages"][f].available for f in needed if f in quota["usages"]}}
    if problems and not dry_run:
        raise QuotaExceeded(problems)

    template = render(plan, mapping.desired)
    bad = template_problems(template, plan.secondary.subscription_id, plan.secondary.resource_group)
    if bad:  # a bug in rendering: never send ARM a template we know is wrong
        raise DeploymentFailed("rendered template is not deployable: " + "; ".join(bad))
    result["template"] = template
    if template_out:
        Path(template_out).write_text(json.dumps(template, indent=2) + "\n")
        result["template_out"] = str(Path(template_out).resolve())
    publish_report(f"{RUNBOOK}-template", f"# ARM template of the secondary (plan `{plan.name}`)\n\n"
                   f"```json\n{json.dumps(template, indent=2)}\n```\n",
                   description=f"ARM template of the secondary hub for plan {plan.name}")  # fmt: skip

    with timed(timings, "what-if"):
        soft = find_soft_deleted(factory)
        what = what_if(factory, template)
    result.update(soft_deleted=soft, what_if=summarize(what), changes=what["changes"],
                  resource_group_missing=what["resource_group_missing"])
    blocking = [s for s in soft if s.get("missing") or not recover]
    roles = _role_assignments(factory, result, timings, apply=False)  # what would change, before approval
    if dry_run:
        result["status"] = "dry-run"
        return
    if blocking:
        raise SoftDeletedBlocking(
            "; ".join(
                f"{s['kind']} {s['name']} is {'missing' if s.get('missing') else 'soft-deleted'}: "
                f"run `{s['recover_command']}`"
                + ("" if s.get("missing") else " (or re-run with recover_soft_deleted=true)")
                for s in blocking
            )
        )
    if not has_changes(what) and not soft:
        result["approval"] = {"decision": "not needed", "approver": "-", "reason": "what-if: no changes"}
        if roles.creates or roles.role_copies:  # only role assignments to write: they are changes too
            result["approval"] = approval_gate(RUNBOOK, plan, approve=approve, summary=_what_if_markdown(result),
                                               poll_interval=APPROVAL_POLL_SECONDS)
        result["status"] = "no-change"
    else:
        result["approval"] = approval_gate(RUNBOOK, plan, approve=approve, summary=_what_if_markdown(result),
                                           poll_interval=APPROVAL_POLL_SECONDS)
        with timed(timings, "deploy"):
            result["resource_group_created"] = ensure_resource_group(factory)
            if soft:
                result["recovered"] = recover_soft_deleted(factory, soft, primary["hub"].get("tenantId"))
            result["deployment"] = deploy(factory, template)
            result["deployed"] = True
        result["status"] = "deployed"
    _role_assignments(factory, result, timings, apply=True)  # the secondary's scopes and identities exist now

    with timed(timings, "verify"):
        verified = verify_secondary(factory, template, mapping.desired)
        after = inventory_hub(factory, "secondary")
    rows = drift.drift_rows(plan, primary, after)
    result["verify"] = {k: verified[k] for k in ("problems", "missing_connections", "datastores", "connections")}
    result["drift"] = {"counts": drift.summary(rows), "rows": rows}
    named = {a["name"] for a in result.get("actions") or [] if a.get("kind") == "connection"}
    for name in verified["missing_connections"]:
        if name not in named:  # the report's actions are where the operator looks for what to do
            result.setdefault("actions", []).append({
                "kind": "connection", "name": name, "why": "the secondary hub lacks this connection after deploy",
                "fix": "create it in the secondary hub, targeting the secondary region's resource, then re-run",
            })  # fmt: skip
        logger.warning("secondary hub lacks connection %s; see the report's actions", name)
    if verified["problems"]:
        raise VerificationFailed("; ".join(verified["problems"]))


def _role_assignments(factory: ClientFactory, result: dict, timings: dict[str, float], apply: bool) -> Any:
    """Role assignments in both regions (issue 18.2): the primary's, twinned on the secondary's scopes,
    and the grants the secondary's own identities need (tasks/role_assignments.py)."""
    with timed(timings, "role-assignments" if apply else "role-assignments (plan)"):
        decision = decide_role_assignments(factory, inventory_role_assignments(factory), dry_run=not apply)
        applied = apply_role_assignments(factory, decision) if apply else None
    rows = role_assignment_rows(decision, applied)
    result["role_assignments"] = {"counts": decision.counts(), "rows": rows, "problems": decision.problems,
                                  "role_copies": [c.role_name for c in decision.role_copies],
                                  "applied": applied}  # fmt: skip
    return decision


def _role_markdown(result: dict) -> list[str]:
    ra = result.get("role_assignments")
    if not ra:
        return []
    counts = ", ".join(f"{k} {v}" for k, v in sorted(ra["counts"].items())) or "none"
    lines = ["", f"## Role assignments: {counts}", ""]
    lines += [f"- custom role copied to the secondary: {n}" for n in ra["role_copies"]]
    lines += [f"- **problem**: {p}" for p in ra["problems"]]
    lines += ["", "| scope | role | principal | state | detail |", "|---|---|---|---|---|"]
    lines += [f"| {r['scope']} | {r['role']} | `{r['principal']}` | {r['state']} | {r['detail']} |" for r in ra["rows"]]
    return lines


def _what_if_markdown(result: dict) -> str:
    counts = ", ".join(f"{k}: {v}" for k, v in sorted((result.get("what_if") or {}).items())) or "nothing"
    lines = [f"**What-if**: {counts}"]
    if result.get("resource_group_missing"):
        lines.append("(the resource group does not exist yet: it is created after approval, so every resource "
                     "is a Create)")
    lines += ["", "| change | resource | detail |", "|---|---|---|"]
    for c in result.get("changes", []):
        kind = classify(c)
        if kind != c["change_type"]:
            detail = "only read-only properties differ (NoEffect): nothing changes"
        elif kind == "Unsupported":
            detail = f"what-if cannot predict this resource: {c.get('unsupported_reason') or 'no reason given'}"
        else:
            detail = ", ".join(f"`{p}`" for p in (c.get("paths") or [])[:8])
        lines.append(f"| {kind} | `{c['resource_id'].split('/providers/', 1)[-1]}` | {detail} |")
    for s in result.get("soft_deleted", []):
        lines.append(f"\n- soft-deleted {s['kind']} {s['name']}: will be recovered")
    lines += _role_markdown(result)
    return "\n".join(lines)


def _publish(plan: Plan, result: dict, timings: dict[str, float]) -> None:
    status = result.get("status") or "FAILED"
    quota = result.get("quota") or {}
    lines = [
        f"# Provision-secondary{' (dry run)' if result['dry_run'] else ''}: plan `{plan.name}`",
        "",
        f"- outcome: **{('FAILED: ' + result['error']) if result.get('error') else status}**",
        f"- secondary: {plan.secondary.location}/{plan.secondary.resource_group}/{plan.secondary.hub}, "
        f"strategy {plan.strategy.default} (compute: {plan.strategy.for_component('compute')})",
        f"- approval: {_decision(result.get('approval'))}",
        f"- quota: needs {_cores(quota.get('needed'))}; "
        f"{'; '.join(quota.get('problems') or []) or 'enough'}",
        f"- deployed: {result['deployed']}; resource group created: {result['resource_group_created']}",
    ]
    if result.get("template_out"):
        lines.append(f"- template written to `{result['template_out']}`")
    if "what_if" in result:
        lines += ["", _what_if_markdown(result)]
    for title, key in (("Actions for the operator", "actions"), ("Not recreated", "skipped")):
        if result.get(key):
            lines += ["", f"## {title}", ""]
            lines += [f"- {a['kind']} `{a['name']}`: {a['why']}" + (f". Fix: {a['fix']}" if a.get("fix") else "")
                      for a in result[key]]
    if result.get("notes"):
        lines += ["", "## Notes", "", *(f"- {n}" for n in result["notes"])]
    if result.get("verify"):
        v = result["verify"]
        lines += ["", "## Verify", "", f"- problems: {'; '.join(v['problems']) or 'none'}",
                  f"- hub datastores: {', '.join(v['datastores'])}",
                  f"- hub connections: {', '.join(v['connections'])}"]
        if v["missing_connections"]:
            lines.append(f"- **missing connections** (see actions): {', '.join(v['missing_connections'])}")
    if result.get("drift"):
        lines += ["", f"## Drift: {result['drift']['counts']}"]
    lines += ["", "| step | seconds |", "|---|---|", *(f"| {k} | {v} |" for k, v in timings.items())]
    rows = (result.get("drift") or {}).get("rows")
    publish_report(f"{RUNBOOK}-report", "\n".join(lines), rows, f"{RUNBOOK}-drift",
                   table_description=f"Drift between the primary and the secondary of plan {plan.name}")


def _cores(needed: dict[str, int] | None) -> str:
    """``{'standardDSv2Family': 32}`` -> "standardDSv2Family: 32 vCPUs"."""
    return ", ".join(f"{family}: {n} vCPUs" for family, n in sorted((needed or {}).items())) or "no new cores"


def _decision(decision: dict | None) -> str:
    if not decision:
        return "not reached"
    return f"{decision['decision']} by {decision['approver']} ({decision['reason']})"
