"""Which jobs a failover interrupted, and how to resubmit them in the other region.

Azure moves no jobs: "jobs that ran during the outage must be resubmitted". A job whose
compute or environment has no counterpart on the target side is listed, never dropped.

The inventory keeps each unfinished job's whole REST spec (``spec``: the JobBase ``properties``
as ARM returns them -- code, inputs and outputs with their URIs, environment variables,
distribution, resources, identity; specification/machinelearningservices/.../stable/2024-04-01/
examples/Job/CommandJob/get.json). A resubmission is that spec with every reference remapped to
the target workspace (:func:`remap_spec`), and it is submitted only when every reference it
names exists there (:func:`job_references`); otherwise each missing one is a named problem.
Inventories written before specs were kept (no ``spec``) fall back to command, environment
and compute only.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from foundry_dr.asset_sync import RefMap, rewrite_refs

INTERRUPTED_STATUSES = {"running", "queued", "preparing", "starting", "provisioning", "notstarted", "finalizing"}


@dataclass
class Resubmission:
    workspace: str
    source_name: str
    new_name: str
    spec: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # set when the job cannot be remapped


def _status(job: dict) -> str:
    return str(job.get("status", "")).split(".")[-1].replace("_", "").lower()


def is_unfinished(status: object) -> bool:
    """Whether a job in ``status`` would have to be resubmitted after a failover."""
    return _status({"status": status}) in INTERRUPTED_STATUSES


def interrupted_jobs(inventory: dict[str, Any]) -> list[tuple[str, dict]]:
    """(workspace, job) for every job that was not finished when the snapshot was taken."""
    out = []
    for workspace, content in sorted((inventory.get("workspaces") or {}).items()):
        for job in content.get("jobs", []):
            if _status(job) in INTERRUPTED_STATUSES:
                out.append((workspace, job))
    return out


# Set by the service, not by whoever submits (JobBase in the 2024-04-01 spec: ``status`` and
# ``parameters`` are read-only, ``services`` endpoints are assigned per run) -- and the
# ``default`` output, which the service points at the run's own artifact folder.
_SERVICE_SET = ("status", "services", "parameters", "provisioningState")
_SERVICE_OUTPUT = "default"
# ``azureml:/subscriptions/.../workspaces/w/{codes|environments|data|models}/n/versions/v``, or a
# compute id ``.../workspaces/w/computes/c``; ``azureml:name:version`` / ``azureml:name@latest``
# name an asset of the job's own workspace.
_ARM_REF = re.compile(
    r"^(?:azureml:)?(?P<id>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/[^/]+/(?P<kind>codes|environments|data|models|computes)/[^\s]+)$",
    re.IGNORECASE,
)
_SHORT_ASSET = re.compile(r"^azureml:(?P<name>[^:/@]+)(?::(?P<version>[^:/@]+)|@(?P<label>\w+))$")
_DATASTORE = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/", re.IGNORECASE)


def remap_spec(spec: Mapping[str, Any], refs: RefMap, source_job: str) -> dict[str, Any]:
    """The job's REST properties as they should be submitted in the target workspace: ARM ids and
    datastore URIs rewritten (``refs``), service-set fields dropped, the origin tagged."""
    out = rewrite_refs(copy.deepcopy(dict(spec)), refs)
    for key in _SERVICE_SET:
        out.pop(key, None)
    outputs = dict(out.get("outputs") or {})
    outputs.pop(_SERVICE_OUTPUT, None)
    out["outputs"] = outputs
    out["tags"] = {**(out.get("tags") or {}), "foundry-dr.resubmitted-from": source_job}
    return out


def job_references(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(what, reference)`` for everything the job needs in its workspace: its code, environment
    and compute (ARM ids), each input's asset (ARM id or ``azureml:name:version``) or datastore."""
    found: list[tuple[str, str]] = []
    for key, what in (("codeId", "code"), ("environmentId", "environment"), ("computeId", "compute")):
        if spec.get(key):
            found.append((what, str(spec[key])))
    for name, value in sorted((spec.get("inputs") or {}).items()):
        uri = (value or {}).get("uri") if isinstance(value, Mapping) else None
        if not uri:
            continue  # a literal input (number, string): nothing to resolve
        if _ARM_REF.match(uri) or _SHORT_ASSET.match(uri):
            found.append((f"input {name}", uri))
        elif m := _DATASTORE.match(uri):
            found.append((f"input {name} (datastore)", f"datastores/{m['ds']}"))
    return found


def plan_resubmissions(inventory: dict[str, Any], target_computes: dict[str, set[str]],
                       target_environments: dict[str, set[str]], suffix: str,
                       already: dict[str, str] | None = None, *, refs: RefMap | None = None,
                       missing: Mapping[str, set[str]] | None = None) -> list[Resubmission]:
    """Resubmission specs for interrupted jobs; ``already`` maps source job -> resubmitted job
    (from tags on the target) so a re-run never submits a job twice.

    A job with a ``spec`` is resubmitted from it (``spec["properties"]``, remapped with
    ``refs``); ``missing`` maps a workspace to the references (:func:`job_references` of the
    remapped spec) that do not resolve there; each one is a problem."""
    already = already or {}
    result = []
    for workspace, job in interrupted_jobs(inventory):
        name = job["name"]
        sub = Resubmission(workspace, name, already.get(name) or f"{name}-{suffix}")
        if name in already:
            sub.problem = None
            sub.spec = {"already_submitted": True}
            result.append(sub)
            continue
        if job.get("spec") and refs is not None:
            result.append(_from_spec(sub, job, refs, (missing or {}).get(workspace, set())))
            continue
        if str(job.get("type", "")).split(".")[-1].lower() not in ("command",):
            sub.problem = f"job type {job.get('type')!r} is not resubmitted automatically; resubmit it by hand"
        elif not job.get("command"):
            sub.problem = "the snapshot has no command for this job"
        elif job.get("compute") and job["compute"] not in target_computes.get(workspace, set()):
            sub.problem = f"compute {job['compute']!r} does not exist in the target workspace {workspace}"
        elif job.get("environment") and job["environment"] not in target_environments.get(workspace, set()):
            env = job["environment"]
            sub.problem = f"environment {env!r} is not replicated to {workspace} (run replicate-artifacts)"
        sub.spec = {
            "command": job.get("command"), "environment": job.get("environment"), "compute": job.get("compute"),
            "experiment_name": job.get("experiment"), "display_name": job.get("display_name"),
            "tags": {**(job.get("tags") or {}), "foundry-dr.resubmitted-from": name},
        }  # fmt: skip
        result.append(sub)
    return result


def _from_spec(sub: Resubmission, job: Mapping[str, Any], refs: RefMap, missing: set[str]) -> Resubmission:
    spec = job["spec"]
    job_type = str(spec.get("jobType") or job.get("type") or "").split(".")[-1].lower()
    if job_type != "command":
        sub.problem = (f"job type {spec.get('jobType') or job.get('type')!r} is not resubmitted automatically "
                       "(its graph and child jobs are not remapped); resubmit it by hand")  # fmt: skip
        return sub
    properties = remap_spec(spec, refs, sub.source_name)
    gone = [f"{what} {ref}" for what, ref in job_references(properties) if ref in missing]
    if gone:
        sub.problem = ("not in the target workspace: " + "; ".join(gone)
                       + " (run replicate-artifacts, or provision-secondary for computes)")  # fmt: skip
    sub.spec = {"properties": properties}
    return sub
