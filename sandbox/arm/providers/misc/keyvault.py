"""Microsoft.KeyVault/vaults (control plane) with soft delete, recover and purge.

Every vault's ``vaultUri`` is the sandbox's one Key Vault data plane (``config.keyvault_uri``):
the SDK needs a vault at the root of its own origin, and the runbooks use one shared vault.
"""

from __future__ import annotations

import copy

from foundry_dr_sandbox.arm.core.engine import Engine
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid, not_found
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.misc import softdelete

NAMESPACE = "Microsoft.KeyVault"
VAULTS = f"{NAMESPACE}/vaults"
DELETED = f"{NAMESPACE}/deletedVaults"


def _deleted_id(doc: dict) -> str:
    sub = "/".join(doc["id"].split("/")[:3])
    return f"{sub}/providers/{NAMESPACE}/locations/{softdelete.location_of(doc)}/deletedVaults/{doc['name']}"


class VaultType(ResourceType):
    type_name = VAULTS

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        given = body.get("properties") or {}
        recover = str(given.get("createMode", "default")).lower() == "recover"
        deleted = None if existing else softdelete.find(engine, DELETED, req.path.resource_id)
        if deleted and not recover:
            raise ArmError(
                409,
                "ConflictError",
                f"A vault with the same name already exists in deleted state: '{deleted[0]['id']}'. "
                "Recover it (PUT with properties.createMode 'recover') or purge it (POST "
                f"{deleted[0]['id']}/purge) before creating it again.",
            )
        if recover and not existing:
            if deleted is None:
                raise not_found(req.path.resource_id, "deleted vault")
            doc, meta = softdelete.restored(deleted)
            softdelete.forget_restored(engine, meta)  # not an LRO: on_settled is not called
            return doc, meta
        if not given.get("tenantId") or not isinstance(given.get("sku"), dict):
            raise invalid(
                "The vault properties need 'tenantId' and 'sku' ({'family': 'A', 'name': 'standard'})."
            )
        props = {
            "accessPolicies": [],
            "enabledForDeployment": False,
            "enabledForDiskEncryption": False,
            "enabledForTemplateDeployment": False,
            "enableSoftDelete": True,
            "softDeleteRetentionInDays": 90,
            "enableRbacAuthorization": False,
            "publicNetworkAccess": "Enabled",
        }
        props.update(
            {k: v for k, v in given.items() if k not in ("createMode", "vaultUri", "provisioningState")}
        )
        props["vaultUri"] = engine.config.keyvault_uri
        doc = {k: v for k, v in body.items() if k in ("location", "tags")}
        doc.setdefault("tags", {})
        doc["properties"] = props
        return doc, dict(existing.meta) if existing else {}

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        props = doc.get("properties", {})
        if props.get("enableSoftDelete") is False:
            return
        deleted_at, purge_at = softdelete.dates(int(props.get("softDeleteRetentionInDays", 90)))
        softdelete.remember(
            engine,
            _deleted_id(doc),
            DELETED,
            doc,
            meta,
            {
                "name": doc["name"],
                "properties": {
                    "vaultId": doc["id"],
                    "location": softdelete.location_of(doc),
                    "deletionDate": deleted_at,
                    "scheduledPurgeDate": purge_at,
                    "tags": doc.get("tags", {}),
                    "purgeProtectionEnabled": bool(props.get("enablePurgeProtection")),
                },
            },
        )


def provider_path(engine: Engine, req: Request) -> Reply:
    """``locations/{loc}/deletedVaults/{name}`` (GET) and ``.../purge`` (POST)."""
    rest = [s.lower() for s in req.path.rest]
    if len(rest) in (4, 5) and rest[0] == "locations" and rest[2] == "deletedvaults":
        rid = f"/subscriptions/{req.path.subscription}/providers/{NAMESPACE}/" + "/".join(req.path.rest[:4])
        found = engine.store.get(rid)
        if found is None:
            raise not_found(rid, "deleted vault")
        if len(rest) == 4 and req.method == "GET":
            return Reply(200, found[0])
        if len(rest) == 5 and rest[4] == "purge" and req.method == "POST":
            if found[0]["properties"].get("purgeProtectionEnabled"):
                raise ArmError(
                    409,
                    "Conflict",
                    f"The vault '{found[0]['name']}' has purge protection on; it is "
                    f"purged automatically on {found[0]['properties']['scheduledPurgeDate']}.",
                )
            engine.store.delete_tree(rid)
            return Reply(200)
    raise ArmError(404, "InvalidResourceType", f"The path '{req.raw_path}' is not supported by the sandbox.")


PROVIDER = Provider(namespace=NAMESPACE, resource_types=[VaultType()], provider_path=provider_path)
