"""Template what-if and deployment through azure-mgmt-resource-deployments, awaited.

The deployment name is stable per plan, so a re-run updates the same deployment record instead
of piling up history; the mode is always Incremental (resources outside the template are never
deleted).
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from foundry_dr.arm_template import resource_ids
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import DeploymentFailed
from foundry_dr.tasks.retried import RETRIED
from foundry_dr.what_if import effective_paths, failure, needs_approval
from foundry_dr.what_if import summarize as summarize_changes

POLL_SECONDS = 2.0  # how often the template deployment's progress is refreshed


def deployment_name(plan_name: str) -> str:
    return f"foundry-dr-{plan_name}-secondary"[:64]


def resource_group_exists(factory: ClientFactory) -> bool:
    s = factory.plan.secondary
    try:
        factory.resource_client(s.subscription_id).resource_groups.get(s.resource_group)
        return True
    except ResourceNotFoundError:
        return False


def _delta(entries: list[Any] | None) -> list[dict[str, Any]] | None:
    if entries is None:
        return None
    out = []
    for p in entries:
        if not isinstance(p, dict):
            continue
        out.append({"path": p.get("path"), "propertyChangeType": str(p.get("property_change_type")
                    or p.get("propertyChangeType") or ""), "children": _delta(p.get("children"))})  # fmt: skip
    return out


def _change(c: Any) -> dict[str, Any]:
    d = c.as_dict() if hasattr(c, "as_dict") else dict(c)
    delta = _delta(d.get("delta"))
    change = {
        "resource_id": d.get("resource_id") or d.get("resourceId"),
        "change_type": str(d.get("change_type") or d.get("changeType")),
        "delta": delta,
        "unsupported_reason": d.get("unsupported_reason") or d.get("unsupportedReason"),
    }
    change["paths"] = effective_paths(delta or [])
    return change


@task(name="what-if", **RETRIED)
def what_if(factory: ClientFactory, template: dict) -> dict[str, Any]:
    """What the deployment would change. Without the resource group (created only after approval)
    ARM cannot run a what-if: every template resource is then a Create, and that is reported."""
    plan = factory.plan
    s = plan.secondary
    if not resource_group_exists(factory):
        changes = [{"resource_id": rid, "change_type": "Create", "paths": []} for rid in resource_ids(plan, template)]
        return {"changes": changes, "resource_group_missing": True}
    client = factory.deployments_client(s.subscription_id)
    body = {"properties": {"mode": "Incremental", "template": template}}
    try:
        result = client.deployments.begin_what_if(s.resource_group, deployment_name(plan.name), body).result()
    except HttpResponseError as exc:
        if exc.status_code and 400 <= exc.status_code < 500:
            raise DeploymentFailed(f"what-if refused the template: {exc.message}") from exc
        raise
    if why := failure(result.status, result.error.as_dict() if result.error is not None else None):
        raise DeploymentFailed(f"what-if failed: {why}; nothing was deployed")
    ours = {r.lower() for r in resource_ids(plan, template)}
    changes = [_change(c) for c in result.changes or []]
    # resources of the group that the template does not mention are left alone (Incremental)
    changes = [c for c in changes if (c["resource_id"] or "").lower() in ours or c["change_type"] != "Ignore"]
    return {"changes": changes, "resource_group_missing": False}


def summarize(what: dict[str, Any]) -> dict[str, int]:
    """Counts per change type, noise (NoEffect-only Modify) counted as NoChange."""
    return summarize_changes(what["changes"])


def has_changes(what: dict[str, Any]) -> bool:
    return needs_approval(what["changes"])


@task(name="ensure-resource-group", **RETRIED)
def ensure_resource_group(factory: ClientFactory) -> bool:
    """Create the secondary resource group if missing; True when it was created."""
    s = factory.plan.secondary
    if resource_group_exists(factory):
        return False
    factory.resource_client(s.subscription_id).resource_groups.create_or_update(
        s.resource_group, {"location": s.location, "tags": {"managed-by": "foundry-dr", "plan": factory.plan.name}})
    return True


def _follow(client: Any, resource_group: str, name: str, total: int, poller: Any) -> None:
    """A progress artifact while ARM deploys: the share of the template's resources whose
    deployment operation has ended (``deployments/{name}/operations``, Resources REST
    "Deployment Operations - List"); the poller is only waited on, never replaced."""
    progress = create_progress_artifact(0.0, description=f"Template deployment {name}: resources deployed")
    shown = 0.0
    while not poller.done():
        poller.wait(POLL_SECONDS)
        if poller.done():
            break
        try:
            ended = sum(1 for op in client.deployment_operations.list(resource_group, name)
                        if op.properties and op.properties.target_resource
                        and str(op.properties.provisioning_state) in ("Succeeded", "Failed"))  # fmt: skip
        except HttpResponseError:
            continue  # progress is best-effort; the deployment's own result is what counts
        value = min(99.0, 100.0 * ended / max(1, total))
        if value != shown:
            update_progress_artifact(progress, value)
            shown = value
    update_progress_artifact(progress, 100.0)


@task(name="deploy-template", **RETRIED)
def deploy(factory: ClientFactory, template: dict) -> dict[str, Any]:
    """Incremental deployment of the template, awaited; ARM's error details on failure."""
    plan = factory.plan
    s = plan.secondary
    client = factory.deployments_client(s.subscription_id)
    body = {"properties": {"mode": "Incremental", "template": template}}
    name = deployment_name(plan.name)
    try:
        poller = client.deployments.begin_create_or_update(s.resource_group, name, body)
        _follow(client, s.resource_group, name, len(template.get("resources", [])), poller)
        result = poller.result()
    except HttpResponseError as exc:
        if exc.status_code is not None and exc.status_code >= 500:
            raise
        raise DeploymentFailed(f"deployment {name} failed: {exc.message}") from exc
    props = result.properties
    return {
        "name": name,
        "state": str(props.provisioning_state),
        "duration": props.duration,
        "output_resources": [r.id for r in props.output_resources or []],
    }
