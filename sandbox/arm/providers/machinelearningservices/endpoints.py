"""Online and batch endpoints and their deployments.

An online endpoint gets keys once (kept in meta, listed only through ``listKeys``) and a scoring
URI served by :mod:`.scoring`. Traffic may name only existing deployments and must total 0 or
100, as the RP requires. A deployment whose model (or environment) id names nothing fails
its long-running operation (``provisioningState: Failed``), as Azure does: the PUT is accepted.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from foundry_dr_sandbox.arm.core import lro
from foundry_dr_sandbox.arm.core.engine import now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError, conflict
from foundry_dr_sandbox.arm.core.provider import Existing, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.machinelearningservices import responses
from foundry_dr_sandbox.arm.providers.machinelearningservices.common import (
    WORKSPACES,
    bad_request,
    base_doc,
    body_of,
    new_guid,
    props_of,
    region_of,
    workspace_id_of,
    workspace_name_of,
)
from foundry_dr_sandbox.arm.providers.machinelearningservices.models import _rest_model, _versioned

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

ONLINE_ENDPOINTS = f"{WORKSPACES}/onlineEndpoints"
ONLINE_DEPLOYMENTS = f"{ONLINE_ENDPOINTS}/deployments"
BATCH_ENDPOINTS = f"{WORKSPACES}/batchEndpoints"
BATCH_DEPLOYMENTS = f"{BATCH_ENDPOINTS}/deployments"


def scoring_uri(base_url: str, region: str, workspace: str, endpoint: str) -> str:
    """Stable scoring URI under the ARM origin (Azure's is https://{ep}.{region}.inference.ml.azure.com/score)."""
    return f"{base_url}/score/{region}/{workspace}/{endpoint}/score"


def _identity(doc: dict, meta: dict, tenant: str) -> None:
    identity = doc.get("identity") or {"type": "SystemAssigned"}
    if "SystemAssigned" in str(identity.get("type")):
        meta.setdefault("principal_id", new_guid())
        identity = {**identity, "principalId": meta["principal_id"], "tenantId": tenant}
    doc["identity"] = identity


def deployments_of(engine: Engine, endpoint_id: str, kind: str = ONLINE_DEPLOYMENTS) -> dict[str, dict]:
    return {d["name"].lower(): d for d, _ in engine.store.children(endpoint_id, kind)}


class OnlineEndpointType(ResourceType):
    type_name = ONLINE_ENDPOINTS
    lro_put = True
    location_required = True
    rest_model = _rest_model("OnlineEndpoint")
    versioned = _versioned("OnlineEndpoint")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = body_of(req)
        given = props_of(body)
        if existing:
            given = {**existing.doc.get("properties", {}), **given}
        rid = req.path.resource_id
        deployments = deployments_of(engine, rid)
        _check_traffic(given.get("traffic") or {}, deployments, "traffic")
        _check_traffic(given.get("mirrorTraffic") or {}, deployments, "mirrorTraffic", total=None)
        if (
            existing
            and given.get("authMode")
            and existing.doc["properties"].get("authMode") != given["authMode"]
        ):
            raise bad_request(
                "The authMode of an online endpoint cannot be changed after creation.", "BadArgument"
            )
        meta = dict(existing.meta) if existing else {}
        if "keys" not in meta:
            keys = given.get("keys") or {}
            meta["keys"] = {
                "primaryKey": keys.get("primaryKey") or secrets.token_urlsafe(32),
                "secondaryKey": keys.get("secondaryKey") or secrets.token_urlsafe(32),
            }
        doc = base_doc(body, existing)
        doc.setdefault("tags", {})
        doc.setdefault("kind", "Managed")
        _identity(doc, meta, engine.config.tenant_id)
        region = doc.get("location") or region_of(engine, workspace_id_of(rid))
        uri = scoring_uri(req.base_url, region, workspace_name_of(rid), req.path.names[-1])
        given.pop("provisioningState", None)
        doc["properties"] = responses.online_endpoint_properties(given, uri)
        return doc, meta

    def patch(self, engine: Engine, req: Request, existing: Existing) -> tuple[dict, dict]:
        doc, meta = super().patch(engine, req, existing)
        _check_traffic(doc["properties"].get("traffic") or {}, deployments_of(engine, doc["id"]), "traffic")
        return doc, meta


def _check_traffic(traffic: dict, deployments: dict[str, dict], field: str, total: int | None = 100) -> None:
    for name, pct in traffic.items():
        if name.lower() not in deployments:
            raise bad_request(
                f"The {field} of the endpoint names deployment '{name}', which does not exist.", "BadArgument"
            )
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
            raise bad_request(
                f"The {field} value of deployment '{name}' must be an integer from 0 to 100.", "BadArgument"
            )
    if total is not None and traffic and sum(traffic.values()) not in (0, total):
        raise bad_request(
            f"The {field} of the endpoint must total 0 or 100; it totals {sum(traffic.values())}.",
            "BadArgument",
        )


def _list_keys(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    if doc["properties"].get("authMode") != "Key":
        raise bad_request(
            f"Endpoint '{doc['name']}' uses {doc['properties'].get('authMode')} auth; it has no keys.",
            "BadArgument",
        )
    return Reply(200, dict(meta["keys"]))


def _regenerate_keys(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    body = req.body if isinstance(req.body, dict) else {}
    which = str(body.get("keyType", "Primary")).lower()
    if which not in ("primary", "secondary"):
        raise bad_request("keyType must be Primary or Secondary.", "BadArgument")
    meta["keys"][f"{which}Key"] = body.get("keyValue") or secrets.token_urlsafe(32)
    engine.store.put(doc["id"], meta["parent"], doc["type"], doc, meta)
    return accepted(engine, req, doc, meta)


def _token(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    if doc["properties"].get("authMode") != "AMLToken":
        raise bad_request(f"Endpoint '{doc['name']}' does not use AMLToken auth.", "BadArgument")
    token = secrets.token_urlsafe(32)
    tokens = [t for t in meta.get("tokens", []) if t["exp"] > time.time()]
    exp = time.time() + 3600
    tokens.append({"token": token, "exp": exp})
    meta["tokens"] = tokens
    engine.store.put(doc["id"], meta["parent"], doc["type"], doc, meta)
    now = datetime.now(UTC)
    return Reply(
        200,
        {
            "accessToken": token,
            "tokenType": "Bearer",
            "expiryTimeUtc": int(exp),
            "refreshAfterTimeUtc": int((now + timedelta(minutes=30)).timestamp()),
        },
    )


def accepted(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    """202 + Location for a POST action that the RP runs as a long-running operation (done at once)."""
    op_id = uuid.uuid4().hex
    engine.store.put_operation(
        op_id,
        {
            "id": op_id,
            "name": op_id,
            "status": "Succeeded",
            "resourceId": doc["id"],
            "startTime": now_iso(),
            "endTime": now_iso(),
        },
    )
    url = lro.operation_url(req, meta.get("region"), lro.RESULTS, op_id)
    # integer seconds: azure-ai-ml deserializes a 202's Retry-After as int
    return Reply(202, None, {"Location": url, "Retry-After": "1"})


OnlineEndpointType.actions = {"listKeys": _list_keys, "regenerateKeys": _regenerate_keys, "token": _token}


class OnlineDeploymentType(ResourceType):
    type_name = ONLINE_DEPLOYMENTS
    lro_put = True
    rest_model = _rest_model("OnlineDeployment")
    versioned = _versioned("OnlineDeployment")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = body_of(req)
        given = props_of(body)
        given.pop("provisioningState", None)
        if existing:
            before = existing.doc.get("properties", {})
            for immutable in ("instanceType", "endpointComputeType"):
                if given.get(immutable) and before.get(immutable) and given[immutable] != before[immutable]:
                    raise bad_request(
                        f"{immutable} of deployment '{req.path.names[-1]}' cannot be changed.", "BadArgument"
                    )
            given = {**before, **given}
        doc = base_doc(body, existing)
        doc.setdefault("tags", {})
        doc.setdefault("kind", "Managed")
        if not doc.get("location") and parent:
            doc["location"] = parent.doc.get("location")
        sku = dict(doc.get("sku") or {})
        sku.setdefault("name", "Default")
        sku.setdefault("tier", "Standard")
        sku.setdefault("capacity", 1)
        doc["sku"] = sku
        doc["properties"] = responses.online_deployment_properties(given)
        _check_online_quota(engine, req, doc, parent)
        return doc, dict(existing.meta) if existing else {}

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        check_references(engine, doc["properties"])

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        endpoint = engine.store.get(doc["id"].rsplit("/deployments/", 1)[0])
        traffic = (endpoint[0].get("properties", {}).get("traffic") or {}) if endpoint else {}
        if any(k.lower() == doc["name"].lower() and v for k, v in traffic.items()):
            raise conflict(
                f"Deployment '{doc['name']}' still takes {traffic.get(doc['name'])}% of the endpoint's "
                f"traffic; set its traffic to 0 before deleting it."
            )


def _check_online_quota(engine: Engine, req: Request, doc: dict, parent: Existing | None) -> None:
    """A managed deployment needs ``ceil(1.2 x instances) x vCPUs`` of its family's quota (see
    compute.online_reserved_instances), else 400 as users report it (MicrosoftDocs/azure-docs#101942,
    MicrosoftLearning/mslearn-azure-ml#30; the troubleshooting guide calls it OutOfQuota)."""
    from foundry_dr_sandbox.arm.providers.machinelearningservices.compute import (
        limit_of,
        online_cores_of,
        usage_by_family,
    )

    family, wanted = online_cores_of(doc)
    if not wanted:
        return
    region = (doc.get("location") or (parent.meta.get("region") if parent else "") or "").replace(" ", "").lower()
    sub = req.path.subscription
    used = usage_by_family(engine, sub, region, skip_id=req.path.resource_id).get(family, 0)
    limit = limit_of(engine, region, family)
    if used + wanted > limit:
        size = doc["properties"].get("instanceType")
        raise ArmError(
            400,
            "BadRequest",
            f"Not enough quota available for {size} in SubscriptionId {sub}. Current usage/limit: {used}/{limit}. "
            f"Additional needed: {wanted} Please see troubleshooting guide, available here: "
            "https://aka.ms/oe-tsg#error-outofquota",
        )


def check_references(engine: Engine, props: dict) -> None:
    """The model, environment and code of a deployment must exist when they are ARM ids (registry ids
    pass): Azure provisions the deployment from them (ManagedOnlineDeployment/createOrUpdate.json
    names all three), so one that does not resolve fails the deployment."""
    model = props.get("model")
    if isinstance(model, dict):  # batch deployments: {"referenceType": "Id", "assetId": ...}
        model = model.get("assetId")
    code = (props.get("codeConfiguration") or {}).get("codeId")  # the scoring script's code version
    for label, ref in (("Model", model), ("Environment", props.get("environmentId")), ("Code", code)):
        if (
            isinstance(ref, str)
            and ref.lower().startswith("/subscriptions/")
            and engine.store.get(ref) is None
        ):
            raise ArmError(
                404,
                f"{label}NotFound",
                f"{label} '{ref}' was not found; the deployment cannot be provisioned.",
            )


class BatchEndpointType(ResourceType):
    type_name = BATCH_ENDPOINTS
    lro_put = True
    location_required = True
    rest_model = _rest_model("BatchEndpoint")
    versioned = _versioned("BatchEndpoint")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = body_of(req)
        given = props_of(body)
        if existing:
            given = {**existing.doc.get("properties", {}), **given}
        default = (given.get("defaults") or {}).get("deploymentName")
        if default and default.lower() not in deployments_of(engine, req.path.resource_id, BATCH_DEPLOYMENTS):
            raise bad_request(
                f"The default deployment '{default}' of the batch endpoint does not exist.", "BadArgument"
            )
        given.pop("provisioningState", None)
        meta = dict(existing.meta) if existing else {}
        doc = base_doc(body, existing)
        doc.setdefault("tags", {})
        _identity(doc, meta, engine.config.tenant_id)
        rid = req.path.resource_id
        region = doc.get("location") or region_of(engine, workspace_id_of(rid))
        uri = f"{req.base_url}/batch/{region}/{workspace_name_of(rid)}/{req.path.names[-1]}/jobs"
        doc["properties"] = responses.batch_endpoint_properties(given, uri)
        return doc, meta


class BatchDeploymentType(ResourceType):
    type_name = BATCH_DEPLOYMENTS
    lro_put = True
    rest_model = _rest_model("BatchDeployment")
    versioned = _versioned("BatchDeployment")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = body_of(req)
        given = props_of(body)
        given.pop("provisioningState", None)
        if existing:
            given = {**existing.doc.get("properties", {}), **given}
        doc = base_doc(body, existing)
        doc.setdefault("tags", {})
        if not doc.get("location") and parent:
            doc["location"] = parent.doc.get("location")
        doc["properties"] = responses.batch_deployment_properties(given)
        return doc, dict(existing.meta) if existing else {}

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        check_references(engine, doc["properties"])
