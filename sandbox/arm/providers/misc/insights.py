"""Microsoft.Insights/components (Application Insights), as a hub references it.

The ids the RP generates (AppId, InstrumentationKey) are kept across updates; the connection
string holds the instrumentation key, as in Azure (it is an identifier, not a secret).

Only workspace-based components can be created: "Classic Application Insights was retired on
February 29, 2024" and classic resources can no longer be created (Azure Monitor docs, "Migrate
to workspace-based Application Insights resources"), so a new component needs
``properties.WorkspaceResourceId`` naming an existing Log Analytics workspace (as the 2020-02-02
example ``ComponentsCreate.json`` sends it), and its ``IngestionMode`` is then ``LogAnalytics``.
The docs give no error code for a classic create: 400 ``BadRequest`` here is an assumption.
"""

from __future__ import annotations

import copy
import uuid

from foundry_dr_sandbox.arm.core.engine import Engine, normalize_location, now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Request, ResourceType

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
        workspace = given.get("WorkspaceResourceId") or old.get("WorkspaceResourceId")
        if not workspace:
            raise ArmError(400, "BadRequest", "Creation of classic (non workspace-based) Application Insights "
                           "resources is no longer supported; set 'properties.WorkspaceResourceId' to a Log "
                           "Analytics workspace.")  # fmt: skip
        if engine.store.get(workspace) is None:
            raise ArmError(400, "BadRequest", f"The Log Analytics workspace '{workspace}' was not found.")
        ikey = old.get("InstrumentationKey") or str(uuid.uuid4())
        region = normalize_location(body.get("location")) or "eastus"
        props = {
            "Application_Type": "web",
            "Flow_Type": "Bluefield",
            "Request_Source": "rest",
            "RetentionInDays": 90,
            "IngestionMode": "LogAnalytics",
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
