"""Microsoft.Resources resource types: resource groups here; deployments in deployments.py."""

from __future__ import annotations

from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Request, ResourceType
from foundry_dr_sandbox.arm.providers.resources.deployments import DeploymentOperationType, DeploymentType
from foundry_dr_sandbox.arm.providers.resources.deployments import provider_path as deployments_provider_path


class ResourceGroupType(ResourceType):
    type_name = "Microsoft.Resources/resourceGroups"
    location_required = True

    def build(
        self, engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = req.body if isinstance(req.body, dict) else {}
        doc = {
            "location": body.get("location") or (existing.doc.get("location") if existing else None),
            "tags": body.get("tags", {}),
            "properties": {"provisioningState": "Succeeded"},
        }
        if body.get("managedBy"):
            doc["managedBy"] = body["managedBy"]
        return doc, dict(existing.meta) if existing else {}

    def view(self, engine, doc: dict, meta: dict) -> dict:
        view = dict(doc)
        view.pop("systemData", None)  # resource groups carry no systemData in ARM responses
        return view


PROVIDER = Provider(
    namespace="Microsoft.Resources",
    resource_types=[ResourceGroupType(), DeploymentType(), DeploymentOperationType()],
    provider_path=deployments_provider_path,
)
