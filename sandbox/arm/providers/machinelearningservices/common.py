"""Helpers shared by the Microsoft.MachineLearningServices resource types."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from foundry_dr_sandbox.arm.core.engine import normalize_location, now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError
from foundry_dr_sandbox.arm.core.ids import key
from foundry_dr_sandbox.arm.core.provider import Existing, Request

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

NS = "Microsoft.MachineLearningServices"
WORKSPACES = f"{NS}/workspaces"


def body_of(req: Request) -> dict:
    return copy.deepcopy(req.body) if isinstance(req.body, dict) else {}


def props_of(body: dict) -> dict:
    props = body.get("properties")
    return dict(props) if isinstance(props, dict) else {}


def workspace_id_of(resource_id: str) -> str:
    """The workspace id a workspace child id lives under (ids are case-insensitive)."""
    low = resource_id.lower()
    at = low.find("/workspaces/")
    end = resource_id.find("/", at + len("/workspaces/"))
    return resource_id if end < 0 else resource_id[:end]


def workspace_name_of(resource_id: str) -> str:
    return workspace_id_of(resource_id).rsplit("/", 1)[-1]


def region_of(engine: Engine, resource_id: str) -> str:
    found = engine.store.get(resource_id)
    if found:
        doc, meta = found
        return meta.get("region") or normalize_location(doc.get("location")) or "eastus"
    return "eastus"


def base_doc(
    body: dict,
    existing: Existing | None,
    keep: tuple[str, ...] = ("tags", "location", "kind", "sku", "identity"),
) -> dict:
    """The envelope fields the RP keeps from a PUT body (missing ones from the existing doc)."""
    doc: dict[str, Any] = {}
    for k in keep:
        if k in body:
            doc[k] = body[k]
        elif existing and k in existing.doc:
            doc[k] = existing.doc[k]
    if "location" in doc:
        doc["location"] = normalize_location(doc["location"])
    return doc


def put_child(engine: Engine, resource_id: str, rtype: str, doc: dict, meta: dict, who: str) -> None:
    """Store a resource the RP creates on its own (default datastores, asset containers)."""
    parent = resource_id.rsplit("/", 2)[0]
    stamp = now_iso()
    doc = {
        **doc,
        "id": resource_id,
        "name": resource_id.rsplit("/", 1)[-1],
        "type": rtype,
        "systemData": {
            "createdAt": stamp,
            "createdBy": who,
            "createdByType": "Application",
            "lastModifiedAt": stamp,
            "lastModifiedBy": who,
            "lastModifiedByType": "Application",
        },
    }
    engine.store.put(resource_id, parent, rtype, doc, {**meta, "parent": parent})


def exists(engine: Engine, resource_id: str) -> bool:
    return engine.store.get(resource_id) is not None


def same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and key(a or "") == key(b or "")


def new_guid() -> str:
    return str(uuid.uuid4())


def bad_request(message: str, code: str = "BadRequest") -> ArmError:
    return ArmError(400, code, message)


def list_view(req: Request, default: str = "ActiveOnly") -> str:
    """The listViewType query parameter (ActiveOnly, ArchivedOnly, All), case-insensitive."""
    wanted = req.query.get("listViewType") or default
    return {"activeonly": "ActiveOnly", "archivedonly": "ArchivedOnly", "all": "All"}.get(
        wanted.lower(), default
    )


def filter_archived(req: Request, items: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    view = list_view(req)
    if view == "All":
        return items
    want = view == "ArchivedOnly"
    return [(d, m) for d, m in items if bool(d.get("properties", {}).get("isArchived")) == want]
