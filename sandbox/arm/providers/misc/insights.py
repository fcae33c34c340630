"""Microsoft.Insights/components (Application Insights), as a hub references it.

The ids the RP generates (AppId, InstrumentationKey) are kept across updates; the connection
string holds the instrumentation key, as in Azure (it is an identifier, not a secret).
"""

from __future__ import annotations

import copy
import uuid

from sandbox.arm.core.engine import Engine, normalize_location, now_iso
from sandbox.arm.core.errors import invalid
from sandbox.arm.core.provider import Existing, Provider, Request, ResourceType

NAMESPACE = "Microsoft.Insights"
COMPONENTS = f"{NAMESPACE}/components"


class ComponentType(ResourceType):
    type_name = COMPONENTS

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        given = body.get("properties") or {}
        if not given.get("Application_Type") and not existing:
            raise invalid(
                "An Application Insights component needs 'properties.Application_Type' (e.g. 'web')."
            )
        old = existing.doc["properties"] if existing else {}
        ikey = old.get("InstrumentationKey") or str(uuid.uuid4())
        region = normalize_location(body.get("location")) or "eastus"
        props = {
            "Application_Type": "web",
            "Flow_Type": "Bluefield",
            "Request_Source": "rest",
            "RetentionInDays": 90,
            "IngestionMode": "ApplicationInsights",
            "publicNetworkAccessForIngestion": "Enabled",
            "publicNetworkAccessForQuery": "Enabled",
        }
        props.update({k: v for k, v in given.items() if k not in ("provisioningState",)})
        props.update(
            ApplicationId=req.path.names[-1],
            AppId=old.get("AppId") or str(uuid.uuid4()),
            InstrumentationKey=ikey,
            Name=req.path.names[-1],
            TenantId=req.path.subscription,
            Ver="v2",
            CreationDate=old.get("CreationDate") or now_iso(),
            ConnectionString=(
                f"InstrumentationKey={ikey};IngestionEndpoint=https://{region}-0.in.applicationinsights"
                f".azure.com/;LiveEndpoint=https://{region}.livediagnostics.monitor.azure.com/"
            ),
        )
        doc = {k: v for k, v in body.items() if k in ("location", "tags", "etag")}
        doc["kind"] = body.get("kind") or "web"
        doc.setdefault("tags", {})
        doc["properties"] = props
        return doc, dict(existing.meta) if existing else {}


PROVIDER = Provider(namespace=NAMESPACE, resource_types=[ComponentType()])
