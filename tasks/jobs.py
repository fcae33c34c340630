"""Resubmit interrupted jobs in the target side; schedules on/off (jobs must never run twice)."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task

from foundry_dr.clients import ClientFactory
from foundry_dr.jobs_remap import Resubmission, job_references, plan_resubmissions, remap_spec
from foundry_dr.resource_ids import workspace_id
from foundry_dr.sides import Side, direction_to
from foundry_dr.tasks.assets import ref_map
from foundry_dr.tasks.inventory import JOB_API
from foundry_dr.tasks.retried import RETRIED, RETRIED_APPLY

RESUBMITTED_TAG = "foundry-dr.resubmitted-from"
SCHEDULE_API = JOB_API


@task(**RETRIED)
def resubmit_interrupted_jobs(
    factory: ClientFactory, inventory: dict[str, Any], target: Side, suffix: str, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Submit each interrupted job of ``inventory`` in ``target``; returns old -> new rows.

    A job snapshotted with its whole spec is submitted from it (every reference remapped, and
    checked to exist in the target first: a missing code, environment, compute, input asset or
    datastore is the row's problem, and the job is not submitted). Older inventories fall back
    to command, environment and compute."""
    logger = get_run_logger()
    refs = ref_map(factory, direction_to(target))
    computes: dict[str, set[str]] = {}
    environments: dict[str, set[str]] = {}
    missing: dict[str, set[str]] = {}
    already: dict[str, str] = {}
    for workspace, content in (inventory.get("workspaces") or {}).items():
        ml = factory.ml_client(target, workspace)
        computes[workspace] = {c.name for c in ml.compute.list()}
        environments[workspace] = {
            f"{e.name}:{v.version}" for e in ml.environments.list() for v in ml.environments.list(name=e.name)
        }
        for job in ml.jobs.list():
            origin = (job.tags or {}).get(RESUBMITTED_TAG)
            if origin:
                already[origin] = job.name
        wanted = {ref for j in content.get("jobs", []) if j.get("spec")
                  for _, ref in job_references(remap_spec(j["spec"], refs, j["name"]))}  # fmt: skip
        missing[workspace] = {ref for ref in wanted if not _resolves(factory, target, workspace, ref)}
    rows = []
    for sub in plan_resubmissions(inventory, computes, environments, suffix, already, refs=refs, missing=missing):
        row = _row(sub)
        if sub.problem or sub.spec.get("already_submitted") or dry_run:
            row["result"] = (
                "not resubmitted: " + sub.problem
                if sub.problem
                else ("already resubmitted" if sub.spec.get("already_submitted") else "would resubmit (dry run)")
            )
            rows.append(row)
            continue
        if "properties" in sub.spec:
            status = _submit_rest(factory, target, sub)
        else:
            status = _submit_legacy(factory, target, sub)
        row.update(result="resubmitted", status=status)
        logger.info("resubmitted %s/%s as %s in the %s", sub.workspace, sub.source_name, sub.new_name, target)
        rows.append(row)
    return rows


def _resolves(factory: ClientFactory, side: Side, workspace: str, ref: str) -> bool:
    """Whether a reference of :func:`job_references` exists in ``workspace`` on ``side``."""
    from azure.core.exceptions import ResourceNotFoundError

    ml = factory.ml_client(side, workspace)
    try:
        if ref.startswith("datastores/"):
            ml.datastores.get(ref.split("/", 1)[1])
        elif ref.removeprefix("azureml:").startswith("/subscriptions/"):
            site = factory.plan.side(side)
            factory.resource_client(site.subscription_id).resources.get_by_id(ref.removeprefix("azureml:"),
                                                                              api_version=JOB_API)  # fmt: skip
        else:  # azureml:name:version (or @latest) -- a data asset, else a model, of the workspace
            name, _, version = ref.removeprefix("azureml:").partition(":")
            name, _, label = name.partition("@")
            try:
                ml.data.get(name, version=version or None, label=label or None)
            except ResourceNotFoundError:
                ml.models.get(name, version=version or None, label=label or None)
    except ResourceNotFoundError:
        return False
    return True


def _submit_rest(factory: ClientFactory, target: Side, sub: Resubmission) -> str | None:
    """PUT the remapped REST spec as ``jobs/{new_name}`` (through the generic ARM resource API)."""
    site = factory.plan.side(target)
    rid = f"{workspace_id(factory.plan, target, sub.workspace)}/jobs/{sub.new_name}"
    poller = factory.resource_client(site.subscription_id).resources.begin_create_or_update_by_id(
        rid, {"properties": sub.spec["properties"]}, api_version=JOB_API
    )
    return (poller.result().properties or {}).get("status")


def _submit_legacy(factory: ClientFactory, target: Side, sub: Resubmission) -> str:
    from azure.ai.ml import command

    spec = sub.spec
    job = command(
        command=spec["command"],
        environment=spec["environment"],
        compute=spec["compute"],
        experiment_name=spec["experiment_name"],
        display_name=spec["display_name"],
        tags=spec["tags"],
    )
    created = factory.ml_client(target, sub.workspace).jobs.create_or_update(job, name=sub.new_name)
    return str(created.status)


def _row(sub: Resubmission) -> dict[str, Any]:
    return {"workspace": sub.workspace, "job": sub.source_name, "new_job": sub.new_name, "result": ""}


@task(**RETRIED)
def set_schedules(factory: ClientFactory, side: Side, enabled: bool, dry_run: bool = False) -> list[dict[str, Any]]:
    """Enable or disable every schedule of the side's projects (idempotent).

    Through the generic ARM resource API: azure-ai-ml's begin_enable/begin_disable rebuild the
    schedule from its entity and refuse schedules of command jobs outside a private preview."""
    s = factory.plan.side(side)
    resources = factory.resource_client(s.subscription_id)
    rows = []
    for project in s.projects:
        ml = factory.ml_client(side, project)
        for schedule in ml.schedules.list(list_view_type="All"):
            was = bool(schedule.is_enabled)
            if was != enabled and not dry_run:
                rid = f"{workspace_id(factory.plan, side, project)}/schedules/{schedule.name}"
                doc = resources.resources.get_by_id(rid, api_version=SCHEDULE_API).as_dict()
                body = {"properties": {**doc["properties"], "isEnabled": enabled}}
                body["properties"].pop("provisioningState", None)
                resources.resources.begin_create_or_update_by_id(rid, body, api_version=SCHEDULE_API).result()
            rows.append({"side": side, "workspace": project, "schedule": schedule.name, "was_enabled": was,
                         "enabled": enabled if not dry_run else was})
    return rows


@task(**RETRIED_APPLY)
def cancel_jobs(factory: ClientFactory, side: Side, jobs: list[tuple[str, str]]) -> list[str]:
    """Cancel (workspace, job) pairs that were resubmitted elsewhere (planned cut-over only)."""
    done = []
    for workspace, name in jobs:
        ml = factory.ml_client(side, workspace)
        try:
            ml.jobs.begin_cancel(name).result()
            done.append(f"{workspace}/{name}")
        except Exception as exc:  # noqa: BLE001 - a finished job cannot be canceled: fine
            get_run_logger().info("not canceled %s/%s: %s", workspace, name, type(exc).__name__)
    return done
