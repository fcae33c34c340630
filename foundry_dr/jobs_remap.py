"""Which jobs a failover interrupted, and how to resubmit them in the other region.

Azure moves no jobs: "jobs that ran during the outage must be resubmitted". A job whose
compute or environment has no counterpart on the target side is listed, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


def interrupted_jobs(inventory: dict[str, Any]) -> list[tuple[str, dict]]:
    """(workspace, job) for every job that was not finished when the snapshot was taken."""
    out = []
    for workspace, content in sorted((inventory.get("workspaces") or {}).items()):
        for job in content.get("jobs", []):
            if _status(job) in INTERRUPTED_STATUSES:
                out.append((workspace, job))
    return out


def plan_resubmissions(inventory: dict[str, Any], target_computes: dict[str, set[str]],
                       target_environments: dict[str, set[str]], suffix: str,
                       already: dict[str, str] | None = None) -> list[Resubmission]:
    """Resubmission specs for interrupted jobs; ``already`` maps source job -> resubmitted job
    (from tags on the target) so a re-run never submits a job twice."""
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
