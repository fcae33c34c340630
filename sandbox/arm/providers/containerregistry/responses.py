"""Wire shapes of Microsoft.ContainerRegistry (Registry, Replication) and the control API's view."""

from __future__ import annotations

import hashlib

SKU_TIERS = {"basic": "Basic", "standard": "Standard", "premium": "Premium"}


def registry_properties(name: str, given: dict, existing: dict | None, created: str) -> dict:
    """RegistryProperties as the RP returns them: what was sent plus the RP's defaults."""
    props = {
        "loginServer": f"{name.lower()}.azurecr.io",
        "creationDate": (existing or {}).get("creationDate", created),
        "adminUserEnabled": False,
        "policies": {
            "quarantinePolicy": {"status": "disabled"},
            "trustPolicy": {"type": "Notary", "status": "disabled"},
            "retentionPolicy": {"days": 7, "status": "disabled"},
            "exportPolicy": {"status": "enabled"},
            "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
        },
        "encryption": {"status": "disabled"},
        "dataEndpointEnabled": False,
        "dataEndpointHostNames": [],
        "privateEndpointConnections": [],
        "publicNetworkAccess": "Enabled",
        "networkRuleBypassOptions": "AzureServices",
        "zoneRedundancy": "Disabled",
        "anonymousPullEnabled": False,
    }
    props.update(
        {k: v for k, v in given.items() if k not in ("loginServer", "creationDate", "provisioningState")}
    )
    return props


def replication_properties(given: dict) -> dict:
    props = {
        "regionEndpointEnabled": True,
        "zoneRedundancy": "Disabled",
        "status": {"displayStatus": "Syncing", "message": "The replication is being provisioned."},
    }
    props.update({k: v for k, v in given.items() if k not in ("status", "provisioningState")})
    return props


def digest_of(repo: str, tag: str) -> str:
    """A stable fake manifest digest for a seeded tag that came without one."""
    return "sha256:" + hashlib.sha256(f"{repo}:{tag}".encode()).hexdigest()


def repositories_view(doc: dict, meta: dict) -> dict:
    """``GET /_sandbox/registries/{name}/repositories``."""
    repos = meta.get("repositories", {})
    return {
        "registry": doc["id"],
        "loginServer": doc.get("properties", {}).get("loginServer"),
        "region": meta.get("region"),
        "repositories": {
            name: {
                "tags": dict(sorted(r.get("tags", {}).items())),
                "manifests": sorted(r.get("manifests", [])),
            }
            for name, r in sorted(repos.items())
        },
    }
