"""Pause and resume the scheduled forward replication around a failover.

While the secondary serves, a scheduled replicate-artifacts run (prefect.yaml: every 15 minutes)
would copy the old primary over the secondary's writes as soon as the primary answers again.
The runbook itself refuses that (the pointer says who serves); pausing its schedules at cut-over
and resuming them at fail-back also keeps the run history free of refused runs. Best effort: a
brand-new orchestrator has no deployments, and that is fine.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName

from foundry_dr.plan import Plan

REPLICATION_FLOW = "replicate-artifacts"


def _for_plan(deployment: Any, plan: Plan) -> bool:
    """Deployments of this plan: their ``plan`` parameter names it (a path or a document)."""
    value = (deployment.parameters or {}).get("plan")
    if isinstance(value, dict):
        return value.get("name") == plan.name
    if isinstance(value, str):
        from foundry_dr.plan import load_plan

        try:
            return load_plan(value).name == plan.name
        except Exception:  # noqa: BLE001 - a path of another machine: not provably ours
            return False
    return False


@task(cache_policy=NO_CACHE)
def set_replication_schedules(plan: Plan, active: bool) -> list[str]:
    """Set every schedule of this plan's replicate-artifacts deployments (in)active; what changed."""
    changed: list[str] = []
    try:
        with get_client(sync_client=True) as client:
            deployments = client.read_deployments(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[REPLICATION_FLOW]))
            )
            for deployment in deployments:
                if not _for_plan(deployment, plan):
                    continue
                for schedule in client.read_deployment_schedules(deployment.id):
                    if schedule.active != active:
                        client.update_deployment_schedule(deployment.id, schedule.id, active=active)
                        changed.append(f"{deployment.name}:{schedule.slug or schedule.id}")
    except Exception as exc:  # noqa: BLE001 - the runbook's own guard is what protects the data
        get_run_logger().warning("replication schedules not %s: %s", "resumed" if active else "paused", exc)
        return [f"not {'resumed' if active else 'paused'}: {type(exc).__name__}"]
    return changed
