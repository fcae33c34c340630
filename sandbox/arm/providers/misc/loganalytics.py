"""Microsoft.OperationalInsights/workspaces (Log Analytics), which Application Insights ingests into.

Shaped as the 2023-09-01 example ``WorkspacesCreate.json`` of azure-rest-api-specs
(specification/operationalinsights/.../OperationalInsights/stable/2023-09-01/examples): the
request carries ``properties.sku.name`` and ``retentionInDays``; the RP adds ``customerId``
(kept across updates) and the public-network-access defaults.
"""

from __future__ import annotations

import copy
import uuid

from foundry_dr_sandbox.arm.core.engine import Engine
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Request, ResourceType

NAMESPACE = "Microsoft.OperationalInsights"
WORKSPACES = f"{NAMESPACE}/workspaces"


class LogAnalyticsWorkspaceType(ResourceType):
    type_name = WORKSPACES
    location_required = True

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        given = body.get("properties") or {}
        old = existing.doc["properties"] if existing else {}
        props = {
            "sku": {"name": "PerGB2018"},
            "retentionInDays": 30,
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
        }
        props.update({k: v for k, v in given.items() if k not in ("provisioningState", "customerId")})
        props["customerId"] = old.get("customerId") or str(uuid.uuid4())
        props["provisioningState"] = "Succeeded"
        doc = {k: v for k, v in body.items() if k in ("location", "tags", "etag")}
        doc.setdefault("tags", {})
        doc["properties"] = props
        return doc, dict(existing.meta) if existing else {}


PROVIDER = Provider(namespace=NAMESPACE, resource_types=[LogAnalyticsWorkspaceType()])
