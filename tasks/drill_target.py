"""The isolated drill target: removing what a drill created (the copies are made with
``tasks.endpoints.apply_endpoint``, the same writes recreate-deployments makes).

Endpoints go first: Azure deletes an endpoint's deployments with it, and a deployment that
still takes traffic may be refused (deployments first left the record uncleaned in the tests), so the
deployments are then checked, and any left deleted. A resource already gone is a success: cleanup
is re-run until the record says cleaned.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from prefect import task

from foundry_dr.clients import ClientFactory
from foundry_dr.deployment_plan import ML_API_VERSION
from foundry_dr.drill import DRILL_TAG
from foundry_dr.stores.records import describe_failure
from foundry_dr.tasks.retried import RETRIED

DELETES_IN_PARALLEL = 8


def _delete(factory: ClientFactory, resource_id: str) -> dict[str, Any]:
    client = factory.resource_client(factory.plan.secondary.subscription_id)
    try:
        current = client.resources.get_by_id(resource_id, api_version=ML_API_VERSION)
    except ResourceNotFoundError:
        return {"resource": resource_id, "result": "already gone"}
    tags = dict(getattr(current, "tags", None) or {})
    if DRILL_TAG not in tags:  # never delete what a drill did not make (a name clash with production)
        return {"resource": resource_id, "result": f"kept: no {DRILL_TAG} tag (not made by a drill)", "kept": True}
    try:
        client.resources.begin_delete_by_id(resource_id, api_version=ML_API_VERSION).result()
    except ResourceNotFoundError:
        return {"resource": resource_id, "result": "already gone"}
    return {"resource": resource_id, "result": "deleted"}


@task(**RETRIED)
def delete_drill_resources(factory: ClientFactory, resource_ids: list[str]) -> list[dict[str, Any]]:
    """Delete the drill's resources in the secondary: endpoints, then deployments left. Each result is
    ``{"resource", "result"}`` plus ``"error"`` when it failed (the others still go)."""
    deployments = [r for r in resource_ids if "/deployments/" in r.lower()]
    endpoints = [r for r in resource_ids if r not in deployments]
    results: list[dict[str, Any]] = []

    def one(rid: str) -> dict[str, Any]:
        try:
            return _delete(factory, rid)
        except AzureError as exc:
            return {"resource": rid, "result": f"FAILED: {describe_failure(exc)}", "error": True}

    for batch in (endpoints, deployments):
        if batch:
            with ThreadPoolExecutor(min(DELETES_IN_PARALLEL, len(batch))) as pool:
                results += list(pool.map(one, batch))
    return results
