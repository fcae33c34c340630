"""Microsoft.Storage/storageAccounts: the sandbox's fixed accounts, served by Azurite.

Azurite's accounts are fixed when it starts, so only the accounts in ``config.storage_accounts``
can exist, each in its own region; their ``primaryEndpoints.blob`` points at the sandbox's
storage proxy (``config.blob_endpoint``) and ``listKeys`` gives the Azurite key.
"""

from __future__ import annotations

import copy

from foundry_dr_sandbox.arm.core.engine import Engine, normalize_location, now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Reply, Request, ResourceType

NAMESPACE = "Microsoft.Storage"
ACCOUNTS = f"{NAMESPACE}/storageAccounts"


class StorageAccountType(ResourceType):
    type_name = ACCOUNTS
    lro_put = True

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        name = req.path.names[-1]
        accounts = engine.config.storage_accounts
        fixed = ", ".join(f"{n} ({a.region})" for n, a in sorted(accounts.items()))
        if name not in accounts:
            raise ArmError(
                400,
                "StorageAccountNotInSandbox",
                f"The storage account '{name}' is not one of the sandbox's accounts. Azurite serves a fixed "
                f"set of accounts, created when the sandbox starts: {fixed}. Use one of them.",
            )
        region = accounts[name].region
        if normalize_location(body.get("location")) not in (None, region):
            raise ArmError(
                400,
                "LocationNotAvailableForResourceType",
                f"The sandbox account '{name}' lives in '{region}', not '{body.get('location')}'.",
            )
        sku = body.get("sku") or (existing.doc.get("sku") if existing else None)
        if not isinstance(sku, dict) or not sku.get("name"):
            raise invalid("A storage account needs 'sku' (e.g. {'name': 'Standard_LRS'}).")
        blob = engine.config.blob_endpoint(name)
        props = {
            "accessTier": "Hot",
            "supportsHttpsTrafficOnly": True,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "isHnsEnabled": False,
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Allow",
                "ipRules": [],
                "virtualNetworkRules": [],
            },
            "encryption": {
                "keySource": "Microsoft.Storage",
                "services": {
                    "blob": {"enabled": True, "keyType": "Account"},
                    "file": {"enabled": True, "keyType": "Account"},
                },
            },
        }
        props.update(body.get("properties") or {})
        created = (existing.doc["properties"].get("creationTime") if existing else None) or now_iso()
        # What the RP reports (specification/storage/resource-manager/Microsoft.Storage/stable/
        # 2023-05-01/examples/StorageAccountGetProperties.json): key creation times, when each
        # service's encryption was enabled and, for a geo-redundant SKU, its secondary region. Only
        # the blob endpoint is given: Azurite serves no other service here.
        for service in props.get("encryption", {}).get("services", {}).values():
            if isinstance(service, dict) and service.get("enabled"):
                service.setdefault("lastEnabledTime", created)
        props.update(
            primaryEndpoints={"blob": blob},
            primaryLocation=region,
            statusOfPrimary="available",
            creationTime=created,
            keyCreationTime={"key1": created, "key2": created},
        )
        if sku["name"].upper().endswith(("_GRS", "_RAGRS", "_GZRS", "_RAGZRS")):
            others = [r for r in engine.config.regions if r != region]
            if others:  # the sandbox's two regions stand for a region pair
                props.update(secondaryLocation=others[0], statusOfSecondary="available")
        doc = {k: v for k, v in body.items() if k in ("tags", "identity")}
        doc.update(
            location=region,
            kind=body.get("kind") or "StorageV2",
            sku={"name": sku["name"], "tier": "Premium" if sku["name"].startswith("Premium") else "Standard"},
            properties=props,
        )
        doc.setdefault("tags", {})
        return doc, dict(existing.meta) if existing else {}


def list_keys(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    """POST .../listKeys: the account's Azurite key (Azurite has one key per account)."""
    key = engine.config.storage_accounts[doc["name"]].key
    return Reply(
        200,
        {
            "keys": [
                {
                    "keyName": "key1",
                    "value": key,
                    "permissions": "FULL",
                    "creationTime": doc["properties"].get("creationTime"),
                }
            ]
        },
    )


StorageAccountType.actions = {"listKeys": list_keys}

PROVIDER = Provider(namespace=NAMESPACE, resource_types=[StorageAccountType()])
