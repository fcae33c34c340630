"""Online/batch endpoints, their deployments and schedules: read as ARM documents, written by PUT.

Reads list names through MLClient (the supported listing API) and fetch each resource's raw ARM
document through the generic-resources client, so ``foundry_dr.deployment_plan`` sees every
property the resource provider returns. Writes are PUTs of those documents (what an ARM template
of the same resources would deploy) and wait for the long-running operation, so a write is
done when the resource is provisioned, and a repeated PUT is harmless (idempotent).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from prefect import task

from foundry_dr.clients import ClientFactory
from foundry_dr.deployment_plan import ML_API_VERSION, EndpointPlan, Item, required_references
from foundry_dr.errors import EndpointFailed
from foundry_dr.redact import redact_text
from foundry_dr.resource_ids import workspace_id
from foundry_dr.sides import Side
from foundry_dr.tasks.retried import RETRIED, RETRIED_APPLY

# Deployments of one endpoint created at once; endpoints are bounded by the flow's task runner.
DEPLOYMENTS_IN_PARALLEL = 8
READS_IN_PARALLEL = 16
_DOC_KEYS = ("id", "name", "type", "location", "kind", "sku", "identity", "tags", "properties")






def _doc(raw: Any) -> dict[str, Any]:
    data = raw.as_dict() if hasattr(raw, "as_dict") else dict(raw)
    return {k: data[k] for k in _DOC_KEYS if data.get(k) is not None}


def _get(factory: ClientFactory, side: Side, resource_id: str) -> dict[str, Any] | None:
    client = factory.resource_client(factory.plan.side(side).subscription_id)
    try:
        return _doc(client.resources.get_by_id(resource_id, api_version=ML_API_VERSION))
    except ResourceNotFoundError:
        return None


def read_workspace(factory: ClientFactory, side: Side, workspace: str) -> dict[str, Any]:
    """Raw ARM documents of a workspace's endpoints, deployments and schedules.

    ``{"name", "id", "exists", "online": [{"doc", "deployments"}], "batch": [...], "schedules": [doc]}``.
    """
    ws = workspace_id(factory.plan, side, workspace)
    out: dict[str, Any] = {"name": workspace, "id": ws, "exists": True, "online": [], "batch": [], "schedules": []}
    if _get(factory, side, ws) is None:
        out["exists"] = False
        return out
    ml = factory.ml_client(side, workspace)
    online = {e.name: [d.name for d in ml.online_deployments.list(endpoint_name=e.name)]
              for e in ml.online_endpoints.list()}  # fmt: skip
    batch = {e.name: [d.name for d in ml.batch_deployments.list(endpoint_name=e.name)]
             for e in ml.batch_endpoints.list()}  # fmt: skip
    schedules = [s.name for s in ml.schedules.list(list_view_type="All")]
    ids: list[str] = []
    for kind, endpoints in (("onlineEndpoints", online), ("batchEndpoints", batch)):
        for name, deployments in endpoints.items():
            ids.append(f"{ws}/{kind}/{name}")
            ids += [f"{ws}/{kind}/{name}/deployments/{d}" for d in deployments]
    ids += [f"{ws}/schedules/{s}" for s in schedules]
    with ThreadPoolExecutor(READS_IN_PARALLEL) as pool:
        docs = dict(zip(ids, pool.map(lambda rid: _get(factory, side, rid), ids), strict=True))
    for kind, endpoints, key in (("onlineEndpoints", online, "online"), ("batchEndpoints", batch, "batch")):
        for name, deployments in endpoints.items():
            doc = docs.get(f"{ws}/{kind}/{name}")
            if doc is None:  # deleted between list and get
                continue
            deps = [docs.get(f"{ws}/{kind}/{name}/deployments/{d}") for d in deployments]
            out[key].append({"doc": doc, "deployments": [d for d in deps if d]})
    out["schedules"] = [d for s in schedules if (d := docs.get(f"{ws}/schedules/{s}"))]
    return out


@task(**RETRIED)
def read_side(factory: ClientFactory, side: Side, workspaces: list[str]) -> dict[str, dict[str, Any]]:
    """Every listed workspace of one side, read in parallel."""
    with ThreadPoolExecutor(max(1, len(workspaces))) as pool:
        return dict(zip(workspaces, pool.map(lambda w: read_workspace(factory, side, w), workspaces), strict=True))


@task(**RETRIED)
def find_missing(factory: ClientFactory, side: Side, resource_ids: list[str]) -> list[str]:
    """The ids among ``resource_ids`` (assets, computes) that do not exist on ``side``."""
    with ThreadPoolExecutor(READS_IN_PARALLEL) as pool:
        found = list(pool.map(lambda rid: _get(factory, side, rid) is not None, resource_ids))
    return sorted(rid for rid, ok in zip(resource_ids, found, strict=True) if not ok)


def put(factory: ClientFactory, side: Side, item: Item) -> float:
    """PUT one item's body and wait until it is provisioned; seconds taken."""
    t0 = time.monotonic()
    client = factory.resource_client(factory.plan.side(side).subscription_id)
    poller = client.resources.begin_create_or_update_by_id(item.resource_id, item.body, api_version=ML_API_VERSION)
    poller.result()
    return round(time.monotonic() - t0, 3)


def _run(results: dict[str, dict[str, Any]], item: Item, call: Callable[[], float]) -> bool:
    try:
        results[item.key] = {"seconds": call()}
        return True
    except Exception as exc:  # noqa: BLE001 - recorded per item, raised for the endpoint below
        # the whole first line: ARM's message ends with what matters (the operation, the role needed)
        message = redact_text(f"{type(exc).__name__}: {exc}").strip().splitlines()[0]
        results[item.key] = {"error": message[:2000], "exc": exc}
        return False


@task(**RETRIED_APPLY)
def apply_endpoint(factory: ClientFactory, side: Side, group: EndpointPlan) -> dict[str, dict[str, Any]]:
    """Endpoint, then its deployments in parallel, then traffic/defaults once all are up.

    The critical path is endpoint + slowest deployment + traffic, whatever the number of
    deployments. Returns ``{item name: {"seconds"} | {"error"}}``; raises ``EndpointFailed``
    (transient if its first cause is) when anything failed, after the other writes finished.
    """
    results: dict[str, dict[str, Any]] = {}
    ok = True
    if group.endpoint.writes:
        ok = _run(results, group.endpoint, lambda: put(factory, side, group.endpoint))
    writes = [d for d in group.deployments if d.writes]
    if ok and writes:
        with ThreadPoolExecutor(min(DEPLOYMENTS_IN_PARALLEL, len(writes))) as pool:
            done = list(pool.map(lambda d: _run(results, d, lambda: put(factory, side, d)), writes))
        ok = all(done)
    if ok and group.finish is not None and group.finish.writes:
        _run(results, group.finish, lambda: put(factory, side, group.finish))
    failures = [v.pop("exc") for v in results.values() if "exc" in v]
    if failures:
        error = EndpointFailed(group.endpoint.name, results)
        raise error from failures[0]
    return results


@task(**RETRIED_APPLY)
def apply_items(factory: ClientFactory, side: Side, items: list[Item]) -> dict[str, dict[str, Any]]:
    """Independent items (schedules), in parallel."""
    results: dict[str, dict[str, Any]] = {}
    writes = [i for i in items if i.writes]
    if writes:
        with ThreadPoolExecutor(min(DEPLOYMENTS_IN_PARALLEL, len(writes))) as pool:
            list(pool.map(lambda i: _run(results, i, lambda: put(factory, side, i)), writes))
    failures = [v.pop("exc") for v in results.values() if "exc" in v]
    if failures:
        raise EndpointFailed("schedules", results) from failures[0]
    return results


def vault_uri(factory: ClientFactory) -> str:
    """URI of the shared Key Vault (no request is made)."""
    return factory.secret_client(factory.plan.shared.key_vault.name).vault_url


def references_of(items: Iterable[Item]) -> list[str]:
    """ARM ids of assets/computes referenced by the writes among ``items`` (to check before writing)."""
    refs: set[str] = set()
    for item in items:
        if item.writes and item.body:
            refs |= required_references(item.body)
    return sorted(refs)


def read_endpoint(factory: ClientFactory, side: Side, resource_id: str) -> dict[str, Any] | None:
    """The ARM document of one resource on ``side`` (None if absent)."""
    return _get(factory, side, resource_id)


@task(**RETRIED)
def scoring_uris(factory: ClientFactory, side: Side) -> dict[str, str]:
    """Endpoint name -> scoring URI of every online endpoint in ``side``'s projects: what the
    pointer tells callers that use endpoint URLs directly."""
    uris: dict[str, str] = {}
    for project in factory.plan.side(side).projects:
        for endpoint in factory.ml_client(side, project).online_endpoints.list():
            if endpoint.scoring_uri:
                uris[endpoint.name] = endpoint.scoring_uri
    return uris
