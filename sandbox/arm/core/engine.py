"""Generic ARM semantics over the store: PUT/GET/PATCH/DELETE/LIST/POST by resource id.

Resource-provider specifics live in :mod:`foundry_dr_sandbox.arm.providers`; this module applies what
every ARM resource shares: case-insensitive ids, resource groups and parents that must
exist, ``systemData``, long-running operations that really need polling, paging with
``nextLink``, Reader/Owner authorization, and regions (for outages).
"""

from __future__ import annotations

import base64
import time
import urllib.parse
import uuid
from datetime import UTC, datetime

from foundry_dr_sandbox.arm.core import api_versions, contract, lro
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid, not_found, rg_not_found
from foundry_dr_sandbox.arm.core.ids import ArmPath
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.core.store import Store
from foundry_dr_sandbox.config import SandboxConfig

DEFAULT_PAGE_SIZE = 10


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize_location(location: str | None) -> str | None:
    return location.replace(" ", "").lower() if isinstance(location, str) else None


class GenericType(ResourceType):
    """Any resource type no provider describes: stored as sent, Succeeded at once."""


class Engine:
    def __init__(self, config: SandboxConfig, store: Store, providers: list[Provider]) -> None:
        self.config = config
        self.store = store
        self.providers = {p.namespace.lower(): p for p in providers}
        self.types: dict[str, ResourceType] = {}
        for p in providers:
            for rt in p.resource_types:
                self.types[rt.type_name.lower()] = rt
        self.generic = GenericType()

    # ---- settings ------------------------------------------------------------------------
    @property
    def page_size(self) -> int:
        return int(self.store.get_setting("page_size", DEFAULT_PAGE_SIZE))

    def lro_delay(self, rtype: str) -> float:
        """Per-type delays set through the control API win; else the profile (the ``lro_profile``
        setting, or the config's, see config.LRO_PROFILES) scaled by ``lro_scale``."""
        delays = self.store.get_setting("lro_delay", {}) or {}
        if rtype.lower() in delays or "*" in delays:
            return float(delays.get(rtype.lower(), delays.get("*")))
        profile = self.store.get_setting("lro_profile", None)
        scale = self.store.get_setting("lro_scale", None)
        return self.config.lro_delay(rtype, profile, None if scale is None else float(scale))

    @property
    def contract_check(self) -> bool:
        return bool(self.store.get_setting("contract_check", True))

    def type_of(self, full_type: str) -> ResourceType:
        return self.types.get(full_type.lower(), self.generic)

    # ---- regions -------------------------------------------------------------------------
    def region_of_path(self, path: ArmPath, body: object = None) -> str | None:
        """The region a request touches: the resource's, else its nearest ancestor's."""
        if path.kind == "provider_path":
            rest = [s.lower() for s in path.rest]
            if "locations" in rest and rest.index("locations") + 1 < len(rest):
                return normalize_location(path.rest[rest.index("locations") + 1])
            return None
        if isinstance(body, dict) and isinstance(body.get("location"), str):
            return normalize_location(body["location"])
        candidates: list[str] = []
        if path.kind in ("resource", "action", "collection") and path.names:
            for n in range(len(path.names), 0, -1):
                candidates.append(
                    ArmPath(
                        "resource",
                        path.subscription,
                        path.resource_group,
                        path.namespace,
                        path.types[:n],
                        path.names[:n],
                    ).resource_id
                )
        if path.resource_group is not None:
            candidates.append(f"/subscriptions/{path.subscription}/resourceGroups/{path.resource_group}")
        for rid in candidates:
            found = self.store.get(rid)
            if found:
                doc, meta = found
                region = meta.get("region") or normalize_location(doc.get("location"))
                if region:
                    return region
        return None

    # ---- authorization -------------------------------------------------------------------
    def authorize(self, req: Request) -> None:
        if req.method == "GET" or req.caller.role == "Owner":
            return
        p = req.path
        operation = (
            f"{p.full_type}/{p.action}/action"
            if p.kind == "action"
            else (f"{p.full_type}/delete" if req.method == "DELETE" else f"{p.full_type}/write")
        )
        raise ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{req.caller.client_id}' with object id '{req.caller.object_id}' does not have "
            f"authorization to perform action '{operation}' over scope '{p.resource_id}' or the scope is "
            f"invalid. It needs a role with that action, such as Contributor or Owner (it has {req.caller.role}).",
        )

    # ---- dispatch ------------------------------------------------------------------------
    def handle(self, req: Request) -> Reply:
        if not req.api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        self.authorize(req)
        p = req.path
        self.check_api_version(req)
        if p.kind == "subscription":
            return Reply(
                200,
                {
                    "id": f"/subscriptions/{p.subscription}",
                    "subscriptionId": p.subscription,
                    "displayName": "foundry-dr sandbox",
                    "state": "Enabled",
                    "tenantId": self.config.tenant_id,
                },
            )
        if p.kind in ("provider_path", "extension"):  # extension resources: their provider serves them
            return self._provider_path(req)
        if p.kind == "collection":
            if req.method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{req.method} is not allowed on a collection.")
            return self._list(req)
        if p.kind == "action":
            return self._action(req)
        if req.method == "GET":
            if (
                p.kind == "resource"
                and p.resource_group is not None
                and not self.store.get(f"/subscriptions/{p.subscription}/resourceGroups/{p.resource_group}")
            ):
                raise rg_not_found(p.resource_group)
            return Reply(200, self.get_view(p.resource_id, p))
        if req.method == "PUT":
            return self._put(req)
        if req.method == "PATCH":
            return self._patch(req)
        if req.method == "DELETE":
            return self._delete(req)
        if req.method == "HEAD":
            return Reply(204 if self.store.get(p.resource_id) else 404)
        raise ArmError(405, "MethodNotAllowed", f"{req.method} is not allowed here.")

    def check_api_version(self, req: Request) -> None:
        """A resource type with per-version models refuses a version it holds no model for, as ARM
        refuses a version the type does not register (api_versions.no_registered_provider)."""
        p = req.path
        if p.kind not in ("resource", "collection", "action") or not p.namespace:
            return
        self.model_of(p.full_type, req.api_version)

    def model_of(self, full_type: str, api_version: str) -> object | None:
        """The REST model of a ``full_type`` body at ``api_version`` (None: not checked); raises
        400 NoRegisteredProviderFound for a version a per-version type holds no model for."""
        rtype = self.type_of(full_type)
        model = rtype.model_for(api_version)
        if model is None and rtype.versioned is not None:
            raise api_versions.no_registered_provider(
                api_version, full_type, rtype.versioned.versions(), list(self.config.regions)
            )
        return model

    def check_contract(self, full_type: str, api_version: str, body: object) -> list[str]:
        """The contract check of one request body, with the model of the version it names; the
        read-only properties it sets (ignored, as the service ignores them)."""
        model = self.model_of(full_type, api_version)
        if self.contract_check and model is not None:
            versioned = self.type_of(full_type).versioned
            lenient = bool(versioned is not None and versioned.ignore_unknown)
            return contract.check(model, body or {}, f"{full_type}@{api_version}", ignore_unknown=lenient)
        return []

    # ---- reading -------------------------------------------------------------------------
    def load(self, resource_id: str) -> Existing | None:
        found = self.store.get(resource_id)
        if not found:
            return None
        doc, meta = found
        doc, meta = self._settle(resource_id, doc, meta)
        return Existing(doc, meta)

    def get_view(self, resource_id: str, path: ArmPath | None = None) -> dict:
        found = self.load(resource_id)
        if found is None:
            if path is not None and path.kind == "resource_group":
                raise rg_not_found(path.resource_group or "")
            raise not_found(resource_id)
        return self.type_of(found.doc.get("type", "")).view(self, found.doc, found.meta)

    def _settle(self, resource_id: str, doc: dict, meta: dict) -> tuple[dict, dict]:
        """Finish a long-running PUT whose delay has passed (lazily, on any read)."""
        ready_at = meta.get("ready_at")
        if ready_at is None or time.time() < ready_at:
            return doc, meta
        rtype = self.type_of(doc.get("type", ""))
        meta.pop("ready_at", None)
        op_id = meta.pop("op", None)
        props = doc.setdefault("properties", {})
        error: ArmError | None = None
        try:
            rtype.on_settled(self, doc, meta)
            props["provisioningState"] = "Succeeded"
        except ArmError as exc:
            error = exc
            props["provisioningState"] = "Failed"
        self.store.put(resource_id, meta["parent"], doc["type"], doc, meta)
        if op_id:
            op = self.store.get_operation(op_id) or {}
            op.update(status="Failed" if error else "Succeeded", endTime=now_iso())
            if error:
                op["error"] = error.body()["error"]
            self.store.put_operation(op_id, op)
        return doc, meta

    def _list(self, req: Request) -> Reply:
        p = req.path
        rtype_name = p.full_type
        if p.resource_group is None and p.namespace and p.namespace.lower() != "microsoft.resources":
            items = self.store.by_type(rtype_name, f"/subscriptions/{p.subscription}")
        else:
            parent = p.parent_id
            if p.resource_group is not None and not self.store.get(
                f"/subscriptions/{p.subscription}/resourceGroups/{p.resource_group}"
            ):
                raise rg_not_found(p.resource_group)
            if len(p.names) >= 1 and not self.store.get(parent):
                raise not_found(parent, "parent resource")
            items = self.store.children(parent, rtype_name)
        settled = []
        for doc, meta in items:
            doc, meta = self._settle(doc["id"], doc, meta)
            settled.append((doc, meta))
        rt = self.type_of(rtype_name)
        settled = rt.list_filter(self, req, settled)
        return Reply(200, self._page(req, [rt.view(self, d, m) for d, m in settled]))

    def _page(self, req: Request, values: list[dict]) -> dict:
        try:
            start = int(base64.urlsafe_b64decode(req.query.get("$skiptoken", "") + "==").decode() or 0)
        except ValueError:
            start = 0
        size = self.page_size
        top = req.query.get("$top")
        if top and top.isdigit():
            size = min(size, int(top)) if int(top) > 0 else size
        page = values[start : start + size]
        out: dict = {"value": page}
        if start + size < len(values) and not (top and top.isdigit() and int(top) <= size):
            query = {k: v for k, v in req.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
            out["nextLink"] = f"{req.base_url}{req.raw_path}?{urllib.parse.urlencode(query)}"
        return out

    # ---- writing -------------------------------------------------------------------------
    def _check_parents(self, p: ArmPath) -> Existing | None:
        if p.resource_group is not None and p.kind != "resource_group":
            if not self.store.get(f"/subscriptions/{p.subscription}/resourceGroups/{p.resource_group}"):
                raise rg_not_found(p.resource_group)
        if len(p.names) > 1:
            parent = self.load(p.parent_id)
            if parent is None:
                raise ArmError(
                    404,
                    "ParentResourceNotFound",
                    f"Can not perform requested operation on nested resource. Parent resource "
                    f"'{p.parent_id}' not found.",
                )
            return parent
        return None

    def _put(self, req: Request) -> Reply:
        p = req.path
        if req.body is not None and not isinstance(req.body, dict):
            raise invalid("The request content was invalid and could not be deserialized: expected a JSON object.")
        rtype = self.type_of(p.full_type)
        self.check_contract(p.full_type, req.api_version, req.body)
        if p.resource_group is not None and self.store.get(
            f"/subscriptions/{p.subscription}/resourceGroups/{p.resource_group}"
        ):
            rtype.before_put(self, req)
        parent = self._check_parents(p)
        return self.put_resource(req, rtype, parent)

    def put_resource(self, req: Request, rtype: ResourceType, parent: Existing | None) -> Reply:
        """Create or replace a resource (also used by template deployments)."""
        p = req.path
        rid = p.resource_id
        existing = self.load(rid)
        if existing and existing.meta.get("ready_at"):
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                f"Another operation on '{rid}' is in progress; retry when it completes.",
            )
        doc, meta = rtype.build(self, req, existing, parent)
        required = (
            rtype.location_required
            if rtype.location_required is not None
            else (len(p.names) == 1 and p.kind != "resource_group")
        )
        if required and not doc.get("location"):
            raise ArmError(400, "LocationRequired", f"The location property is required for '{p.full_type}'.")
        doc["id"] = rid if not existing else existing.doc["id"]
        doc["name"] = p.names[-1] if p.names else (p.resource_group or "")
        doc["type"] = p.full_type
        stamp = now_iso()
        who = {"createdBy": req.caller.client_id, "createdByType": "Application"}
        system = dict(existing.doc.get("systemData", {})) if existing else {"createdAt": stamp, **who}
        system.update(lastModifiedAt=stamp, lastModifiedBy=req.caller.client_id, lastModifiedByType="Application")
        doc["systemData"] = system
        meta["parent"] = p.parent_id
        meta["region"] = (
            normalize_location(doc.get("location"))
            or (parent.meta.get("region") if parent else None)
            or self.region_of_path(p)
        )
        status = 200 if existing else rtype.create_status
        headers: dict[str, str] = {}
        if rtype.lro_put:
            delay = self.lro_delay(p.full_type)
            op_id = uuid.uuid4().hex
            meta["ready_at"] = time.time() + delay
            meta["op"] = op_id
            doc.setdefault("properties", {})["provisioningState"] = "Updating" if existing else "Creating"
            self.store.put_operation(
                op_id, {"id": op_id, "name": op_id, "status": "InProgress", "resourceId": rid, "startTime": stamp}
            )
            headers = lro.async_headers(req, op_id, meta["region"], delay)
        self.store.put(rid, p.parent_id, p.full_type, doc, meta)
        if not rtype.lro_put:
            doc, meta = self._settle(rid, doc, meta)
        return Reply(status, rtype.view(self, doc, meta), headers)

    def _patch(self, req: Request) -> Reply:
        p = req.path
        existing = self.load(p.resource_id)
        if existing is None:
            raise not_found(p.resource_id)
        rtype = self.type_of(p.full_type)
        doc, meta = rtype.patch(self, req, existing)
        doc.setdefault("systemData", {})["lastModifiedAt"] = now_iso()
        self.store.put(p.resource_id, meta["parent"], doc["type"], doc, meta)
        return Reply(200, rtype.view(self, doc, meta))

    def _delete(self, req: Request) -> Reply:
        p = req.path
        existing = self.load(p.resource_id)
        if existing is None:
            if p.kind == "resource_group":
                raise rg_not_found(p.resource_group or "")
            return Reply(204)
        self.type_of(existing.doc.get("type", p.full_type)).on_delete(self, req, existing.doc, existing.meta)
        self.store.delete_tree(p.resource_id)
        return Reply(200)

    def _action(self, req: Request) -> Reply:
        p = req.path
        rid = p.resource_id
        existing = self.load(rid)
        rtype = self.type_of(p.full_type)
        handler = {k.lower(): v for k, v in rtype.actions.items()}.get((p.action or "").lower())
        if handler is None:
            raise ArmError(404, "InvalidResourceType", f"The action '{p.action}' is not supported on '{p.full_type}'.")
        if existing is None and not getattr(handler, "allow_missing", False):
            self._check_parents(p) if len(p.names) > 1 else None
            raise not_found(rid)
        return handler(self, req, existing.doc if existing else None, existing.meta if existing else None)

    def _provider_path(self, req: Request) -> Reply:
        p = req.path
        reply = lro.status_route(self, req)
        if reply is not None:
            return reply
        provider = self.providers.get((p.namespace or "").lower())
        if provider and provider.provider_path:
            return provider.provider_path(self, req)
        raise lro.unsupported(req)
