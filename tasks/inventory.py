"""Inventory of a side's hub and projects: jobs, endpoints, deployments, schedules.

Stored with each replication checkpoint, so that cut-over knows which jobs were running
and which deployments served traffic even when the primary region no longer answers.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from foundry_dr.clients import ClientFactory
from foundry_dr.jobs_remap import is_unfinished
from foundry_dr.resource_ids import workspace_id
from foundry_dr.sides import Side
from foundry_dr.tasks.retried import RETRIED

JOB_API = "2024-04-01"


def _workspace_inventory(factory: ClientFactory, side: Side, workspace: str) -> dict[str, Any]:
    ml = factory.ml_client(side, workspace)
    jobs = [
        {
            "name": j.name,
            "status": _enum(j.status),
            "type": _enum(j.type),
            "display_name": j.display_name,
            "experiment": j.experiment_name,
            "compute": getattr(j, "compute", None),
            "command": getattr(j, "command", None),
            "environment": _as_str(getattr(j, "environment", None)),
            "tags": dict(j.tags or {}),
        }
        for j in ml.jobs.list()
    ]
    for job in jobs:
        if is_unfinished(job["status"]):
            job["spec"] = _job_spec(factory, side, workspace, job["name"])
    endpoints = []
    for ep in ml.online_endpoints.list():
        deployments = [
            {
                "name": d.name,
                "model": d.model,
                "environment": d.environment,
                "instance_type": d.instance_type,
                "instance_count": d.instance_count,
            }
            for d in ml.online_deployments.list(endpoint_name=ep.name)
        ]
        endpoints.append(
            {
                "name": ep.name,
                "auth_mode": ep.auth_mode,
                "traffic": dict(ep.traffic or {}),
                "scoring_uri": ep.scoring_uri,
                "deployments": deployments,
            }
        )
    batch = [{"name": b.name} for b in ml.batch_endpoints.list()]
    schedules = [{"name": s.name, "enabled": bool(s.is_enabled)} for s in ml.schedules.list(list_view_type="All")]
    return {"jobs": jobs, "online_endpoints": endpoints, "batch_endpoints": batch, "schedules": schedules}


def _job_spec(factory: ClientFactory, side: Side, workspace: str, name: str) -> dict[str, Any]:
    """The job's REST properties, whole (what a resubmission needs: code, inputs, outputs,
    environment variables, distribution, resources, identity). Read through the generic ARM
    resource API: azure-ai-ml's entities drop or reshape some of it (a Command node cannot be
    dumped and loaded back as a job)."""
    site = factory.plan.side(side)
    rid = f"{workspace_id(factory.plan, side, workspace)}/jobs/{name}"
    doc = factory.resource_client(site.subscription_id).resources.get_by_id(rid, api_version=JOB_API)
    return dict(doc.properties or {})


def _enum(value: object) -> str | None:
    """azure-ai-ml returns str enums (JobStatus.RUNNING); keep their wire value ("Running")."""
    return None if value is None else str(getattr(value, "value", value))


def _as_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    name, version = getattr(value, "name", None), getattr(value, "version", None)
    return f"{name}:{version}" if name and version else str(value)


@task(**RETRIED)
def snapshot_inventory(factory: ClientFactory, side: Side) -> dict[str, Any]:
    """Per workspace (projects; the hub holds no jobs or endpoints of its own in Foundry)."""
    s = factory.plan.primary if side == "primary" else factory.plan.secondary
    return {"side": side, "hub": s.hub, "workspaces": {p: _workspace_inventory(factory, side, p) for p in s.projects}}
