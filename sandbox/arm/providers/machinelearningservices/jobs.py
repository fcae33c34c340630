"""Jobs (whose status moves over time) and schedules.

A job runs Starting -> Running -> Completed over ``jobs_run_seconds`` (setting, default 5 s),
computed from its creation time on each read, so no background task is needed. A job whose
``properties.properties`` carries ``"sandbox.hold": "Running"`` stays Running until canceled
(the seed uses it for "jobs in flight" during a drill); ``"sandbox.outcome": "Failed"`` makes
it end Failed. ``cancel`` answers 202 + Location; the job shows CancelRequested, then Canceled.
"""

from __future__ import annotations

import copy
import re
import time
from typing import TYPE_CHECKING

from foundry_dr_sandbox.arm.core.errors import ArmError, conflict
from foundry_dr_sandbox.arm.core.provider import Existing, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.machinelearningservices import responses
from foundry_dr_sandbox.arm.providers.machinelearningservices.common import (
    WORKSPACES,
    bad_request,
    body_of,
    filter_archived,
    props_of,
    region_of,
    workspace_id_of,
)
from foundry_dr_sandbox.arm.providers.machinelearningservices.endpoints import accepted
from foundry_dr_sandbox.arm.providers.machinelearningservices.models import _rest_model, _versioned

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

JOBS = f"{WORKSPACES}/jobs"
SCHEDULES = f"{WORKSPACES}/schedules"
DEFAULT_RUN_SECONDS = 5.0
CANCEL_SECONDS = 1.0
TERMINAL = {"Completed", "Failed", "Canceled", "NotResponding", "Paused"}


def job_status(engine: Engine, doc: dict, meta: dict) -> str:
    now = time.time()
    if meta.get("cancel_at") is not None:
        return "Canceled" if now - meta["cancel_at"] >= CANCEL_SECONDS else "CancelRequested"
    if meta.get("final"):
        return meta["final"]
    user_props = doc.get("properties", {}).get("properties") or {}
    elapsed = now - meta.get("created_at", now)
    run = float(engine.store.get_setting("jobs_run_seconds", DEFAULT_RUN_SECONDS))
    if elapsed < min(0.2 * run, 1.0):
        return "Starting"
    if str(user_props.get("sandbox.hold", "")).lower() == "running" or elapsed < run:
        return "Running"
    return str(user_props.get("sandbox.outcome") or "Completed")


class JobType(ResourceType):
    type_name = JOBS
    rest_model = _rest_model("JobBase")
    versioned = _versioned("JobBase")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        given = props_of(body_of(req))
        given.pop("status", None)
        given.pop("services", None)
        if existing:
            before = existing.doc.get("properties", {})
            # a job is immutable once submitted, except its description, tags and archive flag
            for k in ("jobType", "command", "environmentId", "computeId"):
                if k in given and given[k] != before.get(k):
                    raise conflict(f"Job '{req.path.names[-1]}' already exists; its {k} cannot change.")
            merged = copy.deepcopy(before)
            merged.update(
                {
                    k: v
                    for k, v in given.items()
                    if k in ("description", "tags", "isArchived", "displayName", "properties")
                }
            )
            return {"properties": merged}, dict(existing.meta)
        if not given.get("jobType"):
            raise bad_request("properties.jobType is required.", "UserError")
        check_job_references(engine, workspace_id_of(req.path.resource_id), given)
        return {"properties": given}, {"created_at": time.time()}

    def view(self, engine: Engine, doc: dict, meta: dict) -> dict:
        view = copy.deepcopy(doc)
        region = meta.get("region") or region_of(engine, workspace_id_of(doc["id"]))
        status = job_status(engine, doc, meta)
        view["properties"] = responses.job_properties(
            doc.get("properties", {}), doc["id"], doc["name"], region, status
        )
        view["properties"]["provisioningState"] = "Succeeded"
        return view

    def list_filter(
        self, engine: Engine, req: Request, items: list[tuple[dict, dict]]
    ) -> list[tuple[dict, dict]]:
        items = filter_archived(req, items)
        job_type = req.query.get("jobType")
        if job_type:
            items = [
                (d, m)
                for d, m in items
                if str(d["properties"].get("jobType", "")).lower() == job_type.lower()
            ]
        return list(reversed(items))  # the RP lists newest first


_SHORT_ASSET = re.compile(r"^azureml:(?P<name>[^:/@]+):(?P<version>[^:/@]+)$")
_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/", re.IGNORECASE)


def check_job_references(engine: Engine, workspace: str, props: dict) -> None:
    """A submitted job's code, environment, compute and inputs must resolve in its workspace.

    Azure ML resolves these when the job is submitted ("Azure Machine Learning job" REST, JobBase
    in .../stable/2024-04-01/machineLearningServices.json: ``codeId``, ``environmentId`` and
    ``computeId`` are ARM ids; inputs name a data asset or a datastore URI -- learn.microsoft.com,
    "Access data in a job"), so a job copied from another workspace without its assets fails at
    submission, not later. The error codes here are not documented; 404 with a ``...NotFound``
    code and the reference in the message is what the SDK surfaces as ResourceNotFoundError.
    """
    def missing(ref: str) -> bool:
        return engine.store.get(ref.removeprefix("azureml:")) is None

    for key, what in (("codeId", "Code"), ("environmentId", "Environment"), ("computeId", "Compute")):
        ref = props.get(key)
        if isinstance(ref, str) and ref.removeprefix("azureml:").lower().startswith("/subscriptions/") and missing(ref):
            raise ArmError(404, f"{what}NotFound", f"{what} '{ref}' of the job was not found in the workspace.")
    for name, value in (props.get("inputs") or {}).items():
        uri = value.get("uri") if isinstance(value, dict) else None
        if not isinstance(uri, str):
            continue
        target = None
        if uri.removeprefix("azureml:").lower().startswith("/subscriptions/"):
            target = uri.removeprefix("azureml:")
        elif m := _SHORT_ASSET.match(uri):
            target = f"{workspace}/data/{m['name']}/versions/{m['version']}"
            if engine.store.get(target) is None:
                target = f"{workspace}/models/{m['name']}/versions/{m['version']}"
        elif m := _DATASTORE_URI.match(uri):
            target = f"{workspace}/datastores/{m['ds']}"
        if target is not None and engine.store.get(target) is None:
            raise ArmError(404, "AssetNotFound", f"Input '{name}' of the job names '{uri}', which was not found.")


def _cancel(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    status = job_status(engine, doc, meta)
    if status in TERMINAL:
        raise conflict(f"Job '{doc['name']}' is already {status}; it cannot be canceled.")
    if meta.get("cancel_at") is None:
        meta["cancel_at"] = time.time()
        engine.store.put(doc["id"], meta["parent"], doc["type"], doc, meta)
    return accepted(engine, req, doc, meta)


JobType.actions = {"cancel": _cancel}


class ScheduleType(ResourceType):
    type_name = SCHEDULES
    lro_put = True
    rest_model = _rest_model("Schedule")
    versioned = _versioned("Schedule")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        given = props_of(body_of(req))
        given.pop("provisioningState", None)
        trigger = given.get("trigger") or {}
        if trigger.get("triggerType") not in ("Recurrence", "Cron"):
            raise bad_request("properties.trigger.triggerType must be Recurrence or Cron.", "UserError")
        if not isinstance(given.get("action"), dict):
            raise bad_request("properties.action is required.", "UserError")
        return {"properties": responses.schedule_properties(given)}, dict(existing.meta) if existing else {}

    def list_filter(
        self, engine: Engine, req: Request, items: list[tuple[dict, dict]]
    ) -> list[tuple[dict, dict]]:
        view = (req.query.get("listViewType") or "EnabledOnly").lower()
        if view == "all":
            return items
        want = view == "enabledonly"
        return [(d, m) for d, m in items if bool(d["properties"].get("isEnabled", True)) == want]
