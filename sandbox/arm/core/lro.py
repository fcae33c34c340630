"""Long-running operations (LROs), as ARM answers them; one implementation for every provider.

Two shapes, both from ARM's async contract (Azure Resource Manager RPC, "Asynchronous
operations": https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/async-api-reference.md):

* ``Azure-AsyncOperation``: a long-running PUT (``ResourceType.lro_put``) answers at once and
  names a status document, ``.../providers/{ns}/locations/{loc}/operationStatuses/{op}``; the
  same operation is also readable as ``.../operationResults/{op}`` (202 while running, then 200).
  :func:`status_route` serves both for every namespace.
* ``Location``: a POST action that runs long (what-if, importImage) answers 202 with a
  ``Location`` URL under a provider segment of its own (``whatIfOperationResults``,
  ``importImageOperationResults``); polling it answers 202 until the operation is done, then
  the result. :func:`start` creates such an operation, :func:`location_route` serves its URL.

Operations live in the store's operations table (``Store.put_operation``).
"""

from __future__ import annotations

import math
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from foundry_dr_sandbox.arm.core.errors import ArmError, not_found
from foundry_dr_sandbox.arm.core.provider import Reply, Request

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

STATUSES = "operationStatuses"
RESULTS = "operationResults"


def retry_after(delay: float) -> str:
    """Whole seconds for Retry-After, as ARM sends: generated clients (azure-mgmt-resource-deployments)
    deserialize the header of the initial response as an int and fail on "0.30". "0" would make
    azure-core fall back to the client's polling_interval (30 s by default), so at least 1."""
    return str(max(1, min(math.ceil(delay), 5)))


def operation_url(req: Request, region: str | None, segment: str, op_id: str, namespace: str | None = None) -> str:
    """``{base}/subscriptions/{s}/providers/{ns}/locations/{region}/{segment}/{op}?api-version=...``."""
    ns = namespace or req.path.namespace or "Microsoft.Resources"
    return (
        f"{req.base_url}/subscriptions/{req.path.subscription}/providers/{ns}/locations/"
        f"{region or 'global'}/{segment}/{op_id}?" + urllib.parse.urlencode({"api-version": req.api_version})
    )


def _operation_id(req: Request, segment: str) -> str | None:
    """The operation id of a GET ``locations/{loc}/{segment}/{op}`` provider path, else None."""
    rest = [s.lower() for s in req.path.rest]
    if len(rest) == 4 and rest[0] == "locations" and rest[2] == segment.lower() and req.method == "GET":
        return req.path.rest[3]
    return None


def unsupported(req: Request) -> ArmError:
    return ArmError(404, "InvalidResourceType", f"The path '{req.raw_path}' is not supported by the sandbox.")


# ---- Azure-AsyncOperation (long-running PUTs and done-at-once POST actions) -------------------
def status_route(engine: Engine, req: Request) -> Reply | None:
    """``locations/{loc}/operationStatuses/{op}`` (the status document) and
    ``locations/{loc}/operationResults/{op}`` (202 while running, 200 when done), any namespace."""
    p = req.path
    rest = [s.lower() for s in p.rest]
    if not (len(rest) >= 4 and rest[0] == "locations" and rest[2] in (STATUSES.lower(), RESULTS.lower())):
        return None
    op = engine.store.get_operation(p.rest[3])
    if op is None:
        raise not_found(req.raw_path, "operation")
    if op.get("status") == "InProgress" and op.get("resourceId"):
        engine.load(op["resourceId"])  # settles it when its time has come
        op = engine.store.get_operation(p.rest[3]) or op
    headers: dict[str, str] = {}
    if op.get("status") == "InProgress":
        found = engine.store.get(op.get("resourceId", ""))
        ready_at = found[1].get("ready_at") if found else None
        headers["Retry-After"] = retry_after((ready_at or time.time()) - time.time())
    if rest[2] == RESULTS.lower():
        return Reply(202 if op.get("status") == "InProgress" else 200, None, headers)
    return Reply(200, op, headers)


def async_headers(req: Request, op_id: str, region: str | None, delay: float) -> dict[str, str]:
    """The headers of a long-running PUT's first answer."""
    return {"Azure-AsyncOperation": operation_url(req, region, STATUSES, op_id), "Retry-After": retry_after(delay)}


# ---- Location (long-running POST actions with a result URL of their own) ----------------------
def start(
    engine: Engine,
    req: Request,
    *,
    kind: str,
    segment: str,
    region: str | None,
    delay: float,
    namespace: str | None = None,
    retry: str | None = None,
    **fields: object,
) -> tuple[str, Reply]:
    """Record an operation of ``kind`` due in ``delay`` seconds; its id and the 202 + Location answer.
    ``fields`` are kept on the operation for the provider that completes it."""
    op_id = uuid.uuid4().hex
    url = operation_url(req, region, segment, op_id, namespace)
    engine.store.put_operation(
        op_id,
        {
            "id": op_id,
            "kind": kind,
            "status": "InProgress",
            "ready_at": time.time() + delay,
            "location_url": url,
            **fields,
        },
    )
    return op_id, Reply(202, None, {"Location": url, "Retry-After": retry or retry_after(delay)})


def succeed_when_due(engine: Engine, op: dict) -> dict:
    """The default completion: an operation whose time has come has Succeeded."""
    if op["status"] == "InProgress" and time.time() >= op["ready_at"]:
        op["status"] = "Succeeded"
        engine.store.put_operation(op["id"], op)
    return op


def location_route(
    segment: str,
    kind: str,
    advance: Callable[[Engine, dict], dict] = succeed_when_due,
    outcome: Callable[[dict], Reply] = lambda op: Reply(200, op.get("result")),
) -> Callable[[Engine, Request], Reply]:
    """A ``Provider.provider_path`` serving ``locations/{loc}/{segment}/{op}`` for operations of
    ``kind``: ``advance`` completes an operation whose time has come, ``outcome`` answers a done one."""

    def provider_path(engine: Engine, req: Request) -> Reply:
        op_id = _operation_id(req, segment)
        if op_id is None:
            raise unsupported(req)
        op = engine.store.get_operation(op_id)
        if op is None or op.get("kind") != kind:
            raise not_found(req.raw_path, "operation")
        op = advance(engine, op)
        if op["status"] == "InProgress":
            wait = retry_after(op["ready_at"] - time.time())
            return Reply(202, None, {"Location": op["location_url"], "Retry-After": wait})
        return outcome(op)

    return provider_path
