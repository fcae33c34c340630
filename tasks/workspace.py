"""Inventory of a side's hub through the SDKs, soft-delete handling, and verification.

The inventory uses ARM wire names for settings (``vmSize``, ``publicNetworkAccess``...), so the
pure mapping in ``foundry_dr.secondary`` and the template speak one vocabulary. Workspaces and
linked resources are read as ARM documents (the generic resources client gives every property,
e.g. ``hubResourceId`` and ``applicationInsights``, which azure-ai-ml's entities drop); computes,
datastores and connections through MLClient.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from prefect import get_run_logger, task

from foundry_dr.arm_template import API_VERSIONS, resource_ids
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan
from foundry_dr.resource_ids import ML, arm_id
from foundry_dr.secondary import SYSTEM_DATASTORES
from foundry_dr.sides import Side
from foundry_dr.tasks.retried import RETRIED

WS_API = API_VERSIONS[f"{ML}/workspaces"]
KV_API = "2023-07-01"

# azure-ai-ml entity spellings -> ARM wire values
_AUTH = {"api_key": "ApiKey", "aad": "AAD", "none": "None", "account_key": "AccountKey", "sas": "SAS",
         "service_principal": "ServicePrincipal", "managed_identity": "ManagedIdentity", "pat": "PAT",
         "username_password": "UsernamePassword", "custom_keys": "CustomKeys", "oauth2": "OAuth2",
         "access_key": "AccessKey", "certificate": "Certificate"}
_DATASTORE_CREDS = {"account_key": "AccountKey", "sas": "Sas", "service_principal": "ServicePrincipal",
                    "certificate": "Certificate", "none": "None"}
_CATEGORIES = ["AzureOpenAI", "AIServices", "CognitiveSearch", "CognitiveService", "CustomKeys", "ApiKey",
               "AzureBlob", "ADLSGen2", "ContainerRegistry", "Git", "PythonFeed", "S3", "Snowflake",
               "AzureSqlDb", "Serverless", "OpenAI", "Elasticsearch", "Pinecone", "AzureOneLake"]


def field_of(obj: Any, *names: str) -> Any:
    """First present attribute: azure-ai-ml sometimes keeps wire names (``vCPUs``) on its entities."""
    for n in names:
        value = getattr(obj, n, None)
        if value is None and isinstance(obj, dict):
            value = obj.get(n)
        if value is not None:
            return value
    return None


def _enum(value: Any) -> Any:
    return getattr(value, "value", value)


def category_of(sdk_type: str | None) -> str | None:
    """``azure_open_ai`` -> ``AzureOpenAI`` (the SDK snake-cases the REST category)."""
    if not sdk_type:
        return None
    squashed = sdk_type.replace("_", "").lower()
    for c in _CATEGORIES:
        if c.lower() == squashed:
            return c
    return "".join(part.capitalize() for part in sdk_type.split("_"))


def _arm_get(factory: ClientFactory, subscription: str, resource_id: str, api: str) -> dict | None:
    try:
        return factory.resource_client(subscription).resources.get_by_id(resource_id, api_version=api).as_dict()
    except ResourceNotFoundError:
        return None


def _identity_of(identity: dict | None) -> dict | None:
    """The identity's type and user-assigned ids (principal and tenant ids are the RP's)."""
    if not identity:
        return None
    return {"type": identity.get("type"),
            "userAssignedIdentities": {k: {} for k in (identity.get("userAssignedIdentities") or {})}}  # fmt: skip


def _workspace(doc: dict) -> dict[str, Any]:
    p = doc.get("properties") or {}
    return {
        "name": doc["name"], "id": doc["id"], "location": doc.get("location"), "kind": doc.get("kind"),
        "sku": doc.get("sku"), "identityType": (doc.get("identity") or {}).get("type"), "tags": doc.get("tags") or {},
        "friendlyName": p.get("friendlyName"), "description": p.get("description"),
        "publicNetworkAccess": p.get("publicNetworkAccess"),
        "isolationMode": (p.get("managedNetwork") or {}).get("isolationMode"),
        "outboundRules": (p.get("managedNetwork") or {}).get("outboundRules") or {},
        "identity": _identity_of(doc.get("identity")),
        "primaryUserAssignedIdentity": p.get("primaryUserAssignedIdentity"),
        "storageAccount": p.get("storageAccount"), "keyVault": p.get("keyVault"),
        "applicationInsights": p.get("applicationInsights"), "containerRegistry": p.get("containerRegistry"),
        "enableDataIsolation": p.get("enableDataIsolation"), "hubResourceId": p.get("hubResourceId"),
        "tenantId": p.get("tenantId") or (doc.get("identity") or {}).get("tenantId"),
        "associatedWorkspaces": p.get("associatedWorkspaces") or [],
        "provisioningState": p.get("provisioningState"),
    }  # fmt: skip


def _computes(factory: ClientFactory, side: Side, ws: str) -> list[dict]:
    out = []
    for c in factory.ml_client(side, ws).compute.list():
        kind = {"amlcompute": "AmlCompute", "computeinstance": "ComputeInstance"}.get(str(c.type).lower(), c.type)
        tier = str(field_of(c, "tier") or "dedicated").lower()
        out.append({
            "workspace": ws, "name": c.name, "computeType": kind, "vmSize": field_of(c, "size"),
            "vmPriority": "LowPriority" if tier in ("low_priority", "lowpriority") else "Dedicated",
            "minNodeCount": field_of(c, "min_instances"), "maxNodeCount": field_of(c, "max_instances"),
            "idleSeconds": field_of(c, "idle_time_before_scale_down"), "description": c.description,
            "location": c.location, "provisioningState": _enum(field_of(c, "provisioning_state")),
        })  # fmt: skip
    return out


def _datastores(factory: ClientFactory, side: Side, ws: str) -> list[dict]:
    out = []
    for d in factory.ml_client(side, ws).datastores.list():
        creds = field_of(d, "credentials")
        ctype = field_of(creds, "type") if creds is not None else None
        out.append({
            "workspace": ws, "name": d.name, "datastoreType": _enum(d.type),
            "accountName": field_of(d, "account_name"), "containerName": field_of(d, "container_name", "filesystem"),
            "endpoint": field_of(d, "endpoint"), "protocol": field_of(d, "protocol"), "description": d.description,
            "credentialsType": _DATASTORE_CREDS.get(str(ctype).lower(), "None") if ctype else "None",
        })  # fmt: skip
    return out


def _connections(factory: ClientFactory, side: Side, ws: str) -> list[dict]:
    out = []
    for c in factory.ml_client(side, ws).connections.list():
        if c.id and f"/workspaces/{ws.lower()}/connections/" not in c.id.lower():
            continue  # inherited from the hub: inventoried there
        creds = field_of(c, "credentials")
        auth = field_of(creds, "type") if creds is not None else "none"
        out.append({
            "workspace": ws, "name": c.name, "category": category_of(_enum(c.type)), "target": c.target,
            "authType": _AUTH.get(str(_enum(auth)).lower(), str(_enum(auth))),
            "metadata": {k: v for k, v in (c.metadata or {}).items() if v is not None},
        })  # fmt: skip
    return out


def _linked(factory: ClientFactory, side: Side) -> dict[str, Any]:
    s = factory.plan.side(side)
    sub, rg = s.subscription_id, s.resource_group
    accounts = {}
    for name in [s.storage_account, *s.extra_storage_accounts]:
        doc = _arm_get(factory, sub, arm_id(sub, rg, "Microsoft.Storage/storageAccounts", name),
                       API_VERSIONS["Microsoft.Storage/storageAccounts"])
        accounts[name] = {"sku": doc.get("sku"), "kind": doc.get("kind")} if doc else None
    linked: dict[str, Any] = {"storage_accounts": accounts, "application_insights": None, "ai_services": None}
    if s.application_insights:
        doc = _arm_get(factory, sub, arm_id(sub, rg, "Microsoft.Insights/components", s.application_insights),
                       API_VERSIONS["Microsoft.Insights/components"])
        if doc:
            linked["application_insights"] = {"name": doc["name"], "kind": doc.get("kind"),
                                              "applicationType": (doc.get("properties") or {}).get("Application_Type")}
    if s.ai_services:
        doc = _arm_get(factory, sub, arm_id(sub, rg, "Microsoft.CognitiveServices/accounts", s.ai_services),
                       API_VERSIONS["Microsoft.CognitiveServices/accounts"])
        if doc:
            linked["ai_services"] = {"name": doc["name"], "kind": doc.get("kind"), "sku": doc.get("sku")}
    return linked


def read_inventory(factory: ClientFactory, side: Side) -> dict[str, Any]:
    """The side's hub, its projects, computes, datastores, connections and linked resources.

    A side without a hub (an empty secondary) gives ``hub: None`` and empty lists.
    """
    s = factory.plan.side(side)
    sub = s.subscription_id
    empty: dict[str, Any] = {"hub": None, "projects": [], "computes": [], "datastores": [], "connections": [],
                             "other_projects": []}
    hub_doc = _arm_get(factory, sub, arm_id(sub, s.resource_group, f"{ML}/workspaces", s.hub), WS_API)
    if hub_doc is None:
        return {**empty, "linked": _linked(factory, side) if side == "primary" else {}}
    hub = _workspace(hub_doc)
    names = [i.rstrip("/").rsplit("/", 1)[-1] for i in hub.pop("associatedWorkspaces")]
    projects = []
    for name in dict.fromkeys([*s.projects, *names]):
        doc = _arm_get(factory, sub, arm_id(sub, s.resource_group, f"{ML}/workspaces", name), WS_API)
        if doc is not None and doc.get("kind") == "Project":
            projects.append(_workspace(doc))
    for p in projects:
        p.pop("associatedWorkspaces", None)
    workspaces = [hub["name"], *(p["name"] for p in projects if p["name"] in s.projects)]
    return {
        "hub": hub,
        "projects": projects,
        "computes": [c for ws in workspaces for c in _computes(factory, side, ws)],
        "datastores": [d for ws in workspaces for d in _datastores(factory, side, ws)],
        "connections": [c for ws in workspaces for c in _connections(factory, side, ws)],
        "linked": _linked(factory, side),
        "other_projects": [p["name"] for p in projects if p["name"] not in s.projects],
    }


@task(name="inventory-hub", **RETRIED)
def inventory_hub(factory: ClientFactory, side: Side) -> dict[str, Any]:
    """Task wrapper: read-only, so safe to retry on throttling and 5xx."""
    return read_inventory(factory, side)


# ---- soft delete ----------------------------------------------------------------------------
def _deleted_ai_services(factory: ClientFactory, plan: Plan) -> dict | None:
    s = plan.secondary
    if not s.ai_services:
        return None
    live = arm_id(s.subscription_id, s.resource_group, "Microsoft.CognitiveServices/accounts", s.ai_services)
    api = API_VERSIONS["Microsoft.CognitiveServices/accounts"]
    if _arm_get(factory, s.subscription_id, live, api) is not None:
        return None
    deleted = (f"/subscriptions/{s.subscription_id}/providers/Microsoft.CognitiveServices/locations/{s.location}/"
               f"resourceGroups/{s.resource_group}/deletedAccounts/{s.ai_services}")
    doc = _arm_get(factory, s.subscription_id, deleted, api)
    if doc is None:
        return None
    return {
        "kind": "AI Services account", "name": s.ai_services, "id": live, "deleted_id": deleted,
        "location": s.location, "account_kind": doc.get("kind") or "AIServices",
        "sku": doc.get("sku") or {"name": "S0"},
        "recover_command": f"az cognitiveservices account recover --name {s.ai_services} "
                           f"--resource-group {s.resource_group} --location {s.location}",
        "purge_command": f"az cognitiveservices account purge --name {s.ai_services} "
                         f"--resource-group {s.resource_group} --location {s.location}",
    }  # fmt: skip


def _deleted_vault(factory: ClientFactory, plan: Plan) -> dict | None:
    kv = plan.shared.key_vault
    sub = kv.subscription_id or plan.primary.subscription_id
    live = arm_id(sub, kv.resource_group, "Microsoft.KeyVault/vaults", kv.name)
    if _arm_get(factory, sub, live, KV_API) is not None:
        return None
    for loc in dict.fromkeys([plan.primary.location, plan.secondary.location]):
        deleted = f"/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{kv.name}"
        if _arm_get(factory, sub, deleted, KV_API) is not None:
            return {"kind": "Key Vault (shared)", "name": kv.name, "id": live, "deleted_id": deleted,
                    "location": loc, "recover_command": f"az keyvault recover --name {kv.name}",
                    "purge_command": f"az keyvault purge --name {kv.name} --location {loc}"}
    return {"kind": "Key Vault (shared)", "name": kv.name, "id": live, "missing": True,
            "recover_command": f"create the shared vault {kv.name} in {kv.resource_group} (the plan's "
                               "shared.key_vault) before provisioning the secondary"}  # fmt: skip


@task(name="find-soft-deleted", **RETRIED)
def find_soft_deleted(factory: ClientFactory) -> list[dict]:
    """Soft-deleted (or missing) resources the secondary depends on: read-only."""
    plan = factory.plan
    return [x for x in (_deleted_vault(factory, plan), _deleted_ai_services(factory, plan)) if x]


@task(name="recover-soft-deleted", **RETRIED)
def recover_soft_deleted(factory: ClientFactory, found: list[dict], tenant_id: str | None) -> list[str]:
    """Recover soft-deleted resources (the RP's recover flag), awaiting each."""
    logger = get_run_logger()
    plan = factory.plan
    resources = factory.resource_client(plan.secondary.subscription_id).resources
    recovered = []
    for item in found:
        if item.get("missing"):
            continue
        if item["kind"].startswith("Key Vault"):
            body = {"location": item["location"],
                    "properties": {"createMode": "recover", "tenantId": tenant_id,
                                   "sku": {"family": "A", "name": "standard"}}}
            api = KV_API
        else:
            body = {"location": item["location"], "kind": item["account_kind"], "sku": item["sku"],
                    "properties": {"restore": True}}
            api = API_VERSIONS["Microsoft.CognitiveServices/accounts"]
        resources.begin_create_or_update_by_id(item["id"], body, api_version=api).result()
        logger.info("recovered soft-deleted %s %s", item["kind"], item["name"])
        recovered.append(item["name"])
    return recovered


# ---- verification ---------------------------------------------------------------------------
@task(name="verify-secondary", **RETRIED)
def verify_secondary(factory: ClientFactory, template: dict, desired: dict) -> dict[str, Any]:
    """Every template resource Succeeded, projects on the secondary hub, datastores and connections listed."""
    plan = factory.plan
    s = plan.secondary
    resources = factory.resource_client(s.subscription_id).resources
    rows, problems = [], []
    for rid, res in zip(resource_ids(plan, template), template["resources"], strict=True):
        try:
            doc = resources.get_by_id(rid, api_version=res["apiVersion"]).as_dict()
        except ResourceNotFoundError:
            doc = None
        state = ((doc or {}).get("properties") or {}).get("provisioningState") if doc else "NotFound"
        # types that report no provisioningState (connections, components) are settled once they GET
        ok = state == "Succeeded" or (doc is not None and state is None)
        rows.append({"resource": f"{res['type']}/{res['name']}", "state": state or "n/a", "ok": ok})
        if not ok:
            problems.append(f"{res['type']}/{res['name']} is {state}")
        if doc and res["type"] == f"{ML}/workspaces" and res.get("kind") == "Project":
            hub = ((doc.get("properties") or {}).get("hubResourceId") or "")
            want = arm_id(s.subscription_id, s.resource_group, f"{ML}/workspaces", s.hub)
            if hub.lower() != want.lower():
                problems.append(f"project {res['name']} points at hub {hub or '(none)'}, not {want}")
    hub_ml = factory.ml_client("secondary")
    datastores = {d.name for d in hub_ml.datastores.list()}
    wanted = {d["name"] for d in desired["datastores"] if d["workspace"] == s.hub} | {"workspaceblobstore"}
    for name in sorted(wanted - datastores):
        problems.append(f"hub {s.hub} does not list datastore {name}")
    connections = {c.name for c in hub_ml.connections.list()}
    missing = sorted({c["name"] for c in desired["connections"] if c["workspace"] == s.hub} - connections)
    return {"rows": rows, "problems": problems, "datastores": sorted(datastores), "connections": sorted(connections),
            "missing_connections": missing, "system_datastores": sorted(datastores & SYSTEM_DATASTORES)}
