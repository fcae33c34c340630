"""What a resource provider plugs into the generic ARM engine.

A provider folder (``sandbox/arm/providers/<name>/``) holds ``models.py`` (resource types:
state and rules), ``responses.py`` (wire shapes) and exposes a :class:`Provider` whose
resource types subclass :class:`ResourceType`. The engine owns ids, auth, faults, LRO,
paging, parents and errors; a resource type only says how its documents are built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from foundry_dr_sandbox.arm.core.ids import ArmPath

if TYPE_CHECKING:
    from fastapi import FastAPI

    from foundry_dr_sandbox.arm.core.engine import Engine
    from foundry_dr_sandbox.tokens import Caller


@dataclass
class Request:
    """One ARM request, parsed."""

    method: str
    path: ArmPath
    raw_path: str
    query: dict[str, str]
    body: Any
    caller: Caller
    base_url: str  # https://127.0.0.1:PORT (no trailing slash)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


@dataclass
class Reply:
    """What an action or provider path answers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Existing:
    doc: dict
    meta: dict


class ResourceType:
    """Behaviour of one resource type. Override what differs from a plain tracked resource."""

    type_name: str = ""  # e.g. "Microsoft.MachineLearningServices/workspaces"
    lro_put: bool = False  # PUT answers 201/200 + Azure-AsyncOperation, settles after a delay
    lro_delete: bool = False
    location_required: bool | None = None  # None: required for top-level resources only
    rest_model: Any = None  # SDK REST model class for the contract check (optional)
    # the REST model per api-version (api_versions.VersionedModel): when set, a request naming a
    # version it holds no model for is refused, and a body is checked with its version's model
    versioned: Any = None
    create_status: int = 201  # some RPs answer a creating PUT with 200 (workspace connections)
    # POST actions on a resource: name (case-insensitive) -> handler(engine, req, doc, meta) -> Reply
    actions: dict[str, Callable[..., Reply]] = {}

    def model_for(self, api_version: str) -> Any:
        """The REST model a request body of ``api_version`` is checked with (None: unchecked)."""
        if self.versioned is not None:
            return self.versioned.model(api_version)
        return self.rest_model

    def before_put(self, engine: Engine, req: Request) -> None:
        """Called before a PUT's parents are checked: an RP that creates a missing parent on its
        own (an asset version PUT creates its container) does it here."""

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        """The document to store for a PUT, and the private meta. Raise ArmError to refuse."""
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        doc: dict = {k: v for k, v in body.items() if k not in ("id", "name", "type", "systemData")}
        props = doc.setdefault("properties", {}) if isinstance(doc.get("properties", {}), dict) else {}
        doc["properties"] = props
        props["provisioningState"] = "Succeeded"
        meta = dict(existing.meta) if existing else {}
        return doc, meta

    def patch(self, engine: Engine, req: Request, existing: Existing) -> tuple[dict, dict]:
        """PATCH: merge the body into the document (tags replaced, properties merged)."""
        doc = copy.deepcopy(existing.doc)
        body = req.body if isinstance(req.body, dict) else {}
        for k, v in body.items():
            if k == "properties" and isinstance(v, dict):
                doc.setdefault("properties", {}).update(v)
            elif k not in ("id", "name", "type", "systemData"):
                doc[k] = v
        return doc, existing.meta

    def view(self, engine: Engine, doc: dict, meta: dict) -> dict:
        """The document as GET returns it (hide nothing by default)."""
        return doc

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        """Called once when a long-running PUT finishes; may change doc/meta in place or raise
        ArmError to make the operation fail (the resource then shows provisioningState Failed)."""

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        """Called before a resource is deleted; raise ArmError to refuse."""

    def list_filter(self, engine: Engine, req: Request, items: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
        """Filter a listing by query parameters the RP understands (e.g. listViewType)."""
        return items


@dataclass
class Provider:
    """A resource provider: its resource types, provider-level paths and extra routes."""

    namespace: str
    resource_types: list[ResourceType] = field(default_factory=list)
    # handler(engine, req) -> Reply for /subscriptions/{s}/providers/{ns}/... paths (usages, quotas)
    provider_path: Callable[..., Reply] | None = None
    # add non-ARM routes to the app (scoring URIs, data planes)
    register_routes: Callable[[FastAPI, Engine], None] | None = None
