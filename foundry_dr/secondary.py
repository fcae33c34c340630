"""Map the primary hub's inventory to the secondary the plan asks for (pure: no Azure, no Prefect).

Both sides are described by the same *inventory* shape (built by ``tasks/workspace.py`` from the
SDKs, with ARM wire names for settings), so that one function gives the desired secondary, the
ARM template renders it, and the drift report compares it with what the secondary really has::

    {"hub": {...} | None, "projects": [...], "computes": [...], "datastores": [...],
     "connections": [...], "linked": {"storage_accounts": {...}, "application_insights": ...,
     "ai_services": ...}, "other_projects": [...]}

What the secondary gets, following the seed's guidance: its own storage account(s), Application
Insights and AI Services account (named in the plan); the *shared* Key Vault and registry; each
connection's twin from ``plan.connections``; compute per strategy. Secrets never enter the
desired state: a connection that needs a key is listed as an action for the operator, and a
datastore that used a key gets identity-based access.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from foundry_dr.errors import MappingError
from foundry_dr.plan import Plan
from foundry_dr.resource_ids import ML, arm_id

# Datastores the RP creates with every workspace; they are never templated.
SYSTEM_DATASTORES = frozenset(
    {"workspaceblobstore", "workspacefilestore", "workspaceartifactstore", "workspaceworkingdirectory"}
)
# Connection auth types that carry no secret: such a connection can be rendered into a template.
SECRETLESS_AUTH = frozenset({"AAD", "None"})
TEMPLATED_DATASTORE_TYPES = frozenset({"AzureBlob", "AzureDataLakeGen2"})



@dataclass
class Mapping:
    """The desired secondary (inventory-shaped) and what the operator must know or do."""

    desired: dict[str, Any]
    actions: list[dict[str, str]] = field(default_factory=list)  # operator must act (e.g. a key)
    skipped: list[dict[str, str]] = field(default_factory=list)  # deliberately not recreated
    notes: list[str] = field(default_factory=list)


def _secondary_ids(plan: Plan) -> dict[str, str | None]:
    s = plan.secondary
    kv = plan.shared.key_vault
    acr = plan.shared.container_registry
    if acr is not None:
        registry = arm_id(acr.subscription_id or plan.primary.subscription_id, acr.resource_group,
                          "Microsoft.ContainerRegistry/registries", acr.name)
    elif s.registry:
        registry = arm_id(s.subscription_id, s.resource_group, "Microsoft.ContainerRegistry/registries", s.registry)
    else:
        registry = None
    return {
        "hub": arm_id(s.subscription_id, s.resource_group, f"{ML}/workspaces", s.hub),
        "storageAccount": arm_id(s.subscription_id, s.resource_group, "Microsoft.Storage/storageAccounts",
                                 s.storage_account),
        "keyVault": arm_id(kv.subscription_id or plan.primary.subscription_id, kv.resource_group,
                           "Microsoft.KeyVault/vaults", kv.name),
        "applicationInsights": arm_id(s.subscription_id, s.resource_group, "Microsoft.Insights/components",
                                      s.application_insights) if s.application_insights else None,
        "containerRegistry": registry,
    }


def rename(plan: Plan, text: str | None) -> str | None:
    """Rewrite primary names inside free text (friendly names, targets): hub, AI Services, region."""
    if not text:
        return text
    p, s = plan.primary, plan.secondary
    for old, new in ((p.hub, s.hub), (p.ai_services, s.ai_services), (p.location, s.location)):
        if old and new:
            text = text.replace(old, new)
    return text


def workspace_map(plan: Plan) -> dict[str, str]:
    """Primary workspace name -> secondary (hub to hub, projects by position in the plan)."""
    out = {plan.primary.hub: plan.secondary.hub}
    out.update(dict(zip(plan.primary.projects, plan.secondary.projects, strict=False)))
    return out


def account_map(plan: Plan) -> dict[str, str]:
    """Primary storage account -> the secondary's own account (default, then extras by position)."""
    p, s = plan.primary, plan.secondary
    out = {p.storage_account: s.storage_account}
    out.update(dict(zip(p.extra_storage_accounts, s.extra_storage_accounts, strict=False)))
    return out


def map_resource_id(plan: Plan, resource_id: str | None) -> str | None:
    """A primary-side resource id as its secondary twin: the primary's subscription and resource
    group become the secondary's (parsed with ``azure.mgmt.core.tools``, case-insensitive, as ARM
    compares them), and the names the plan maps (workspaces, storage accounts, AI Services, and
    the region inside a name) are renamed. Ids outside the primary's resource group (shared
    resources: the vault, the registry) are kept."""
    from azure.mgmt.core.tools import is_valid_resource_id, parse_resource_id
    from azure.mgmt.core.tools import resource_id as build

    if not resource_id or not is_valid_resource_id(resource_id):
        return resource_id
    p, s = plan.primary, plan.secondary
    parts = parse_resource_id(resource_id)
    if (parts.get("subscription") or "").lower() != p.subscription_id.lower() or (
        parts.get("resource_group") or ""
    ).lower() != p.resource_group.lower():
        return resource_id
    names = {**workspace_map(plan), **account_map(plan)}
    if p.ai_services and s.ai_services:
        names[p.ai_services] = s.ai_services
    lowered = {k.lower(): v for k, v in names.items()}

    def twin(name: str) -> str:
        return lowered.get(name.lower()) or name.replace(p.location, s.location)

    kwargs: dict[str, Any] = {"subscription": s.subscription_id, "resource_group": s.resource_group,
                              "namespace": parts["namespace"], "type": parts["type"], "name": twin(parts["name"])}
    for level in range(1, int(parts.get("children") or 0) + 1):
        kwargs[f"child_type_{level}"] = parts[f"child_type_{level}"]
        kwargs[f"child_name_{level}"] = twin(parts[f"child_name_{level}"])
        if parts.get(f"child_namespace_{level}"):
            kwargs[f"child_namespace_{level}"] = parts[f"child_namespace_{level}"]
    return build(**kwargs)


def map_identity(plan: Plan, identity: dict[str, Any] | None) -> dict[str, Any] | None:
    """A workspace identity for the secondary: its type, and for UserAssigned the mapped
    ``userAssignedIdentities`` (ARM requires them: an identity of type UserAssigned without any
    is refused). Principal and tenant ids are the RP's, never sent."""
    if not identity or not identity.get("type"):
        return None
    out: dict[str, Any] = {"type": identity["type"]}
    assigned = identity.get("userAssignedIdentities") or {}
    if assigned:
        out["userAssignedIdentities"] = {map_resource_id(plan, rid): {} for rid in assigned}
    return out


def map_outbound_rules(plan: Plan, rules: dict[str, Any] | None) -> dict[str, Any]:
    """Managed-network outbound rules for the secondary: FQDN and service-tag rules as they are;
    private-endpoint rules pointing at the twin of their target (``serviceResourceId``)."""
    out: dict[str, Any] = {}
    for name, rule in (rules or {}).items():
        rule = copy.deepcopy(rule)
        rule.pop("status", None)  # read-only
        dest = rule.get("destination")
        if isinstance(dest, dict) and dest.get("serviceResourceId"):
            dest["serviceResourceId"] = map_resource_id(plan, dest["serviceResourceId"])
        out[name] = rule
    return out


def unmapped_connections(plan: Plan, primary: dict[str, Any]) -> list[str]:
    """Primary connections with no twin in ``plan.connections`` (sorted, unique)."""
    mapped = {m.primary for m in plan.connections}
    return sorted({c["name"] for c in primary.get("connections", [])} - mapped)


def map_to_secondary(plan: Plan, primary: dict[str, Any], secondary: dict[str, Any] | None = None) -> Mapping:
    """The secondary the plan wants, given the primary's inventory (and the secondary's, if any).

    Raises :class:`MappingError` listing every problem at once: unmapped connections, projects
    the plan names but the primary lacks, a plan without secondary project names.
    """
    if not primary.get("hub"):
        raise MappingError(f"the primary hub {plan.primary.hub!r} was not found; nothing to map")
    problems: list[str] = []
    missing = unmapped_connections(plan, primary)
    if missing:
        problems.append(
            "primary connection(s) with no secondary twin in plan.connections: " + ", ".join(missing)
            + " (add a {primary: NAME, secondary: TWIN} mapping for each)"
        )
    found_projects = {p["name"] for p in primary.get("projects", [])}
    absent = [n for n in plan.primary.projects if n not in found_projects]
    if absent:
        problems.append("plan.primary.projects names project(s) the primary hub does not have: " + ", ".join(absent))
    if len(plan.secondary.projects) < len(plan.primary.projects):
        problems.append("plan.secondary.projects must name a secondary project for every primary project")
    if problems:
        raise MappingError("cannot map the primary to the secondary:\n  " + "\n  ".join(problems))

    s = plan.secondary
    ids = _secondary_ids(plan)
    wmap, amap = workspace_map(plan), account_map(plan)
    out = Mapping(desired={})
    hub = copy.deepcopy(primary["hub"])
    hub.update(
        name=s.hub, id=ids["hub"], location=s.location, friendlyName=rename(plan, hub.get("friendlyName")),
        storageAccount=ids["storageAccount"], keyVault=ids["keyVault"],
        applicationInsights=ids["applicationInsights"], containerRegistry=ids["containerRegistry"],
        identity=map_identity(plan, hub.get("identity")),
        primaryUserAssignedIdentity=map_resource_id(plan, hub.get("primaryUserAssignedIdentity")),
        outboundRules=map_outbound_rules(plan, hub.get("outboundRules")),
    )  # fmt: skip
    projects = []
    for p in primary.get("projects", []):
        if p["name"] not in wmap:
            continue
        q = copy.deepcopy(p)
        q.update(name=wmap[p["name"]], location=s.location, hubResourceId=ids["hub"],
                 id=arm_id(s.subscription_id, s.resource_group, f"{ML}/workspaces", wmap[p["name"]]),
                 friendlyName=rename(plan, p.get("friendlyName")), identity=map_identity(plan, p.get("identity")),
                 primaryUserAssignedIdentity=map_resource_id(plan, p.get("primaryUserAssignedIdentity")))  # fmt: skip
        projects.append(q)
    for name in primary.get("other_projects", []):
        out.skipped.append({"kind": "project", "name": name, "why": "not in plan.primary.projects"})

    desired = {
        "hub": hub,
        "projects": projects,
        "computes": _computes(plan, primary, wmap, out),
        "datastores": _datastores(plan, primary, secondary, wmap, amap, out),
        "connections": _connections(plan, primary, wmap, out),
        "linked": _linked(plan, primary),
        "other_projects": [],
    }
    out.desired = desired
    if plan.primary.ai_services and not s.ai_services:
        out.notes.append(f"the primary has AI Services {plan.primary.ai_services}; "
                         "the plan names none for the secondary")
    return out


def _computes(plan: Plan, primary: dict, wmap: dict[str, str], out: Mapping) -> list[dict]:
    strategy = plan.strategy.for_component("compute")
    result = []
    for c in primary.get("computes", []):
        where = f"{c['workspace']}/{c['name']}"
        if c["workspace"] not in wmap:
            continue
        if strategy == "hot-cold":
            out.skipped.append({"kind": "compute", "name": where, "why": "strategy hot-cold: created at failover"})
            continue
        if c.get("computeType") != "AmlCompute":
            out.skipped.append({"kind": "compute", "name": where,
                                "why": f"{c.get('computeType')}: personal or attached compute, recreate on demand"})
            continue
        d = copy.deepcopy(c)
        d.update(workspace=wmap[c["workspace"]], location=plan.secondary.location)
        if strategy == "hot-warm":
            d["minNodeCount"] = 0
        result.append(d)
    return result


def _datastores(plan: Plan, primary: dict, secondary: dict | None, wmap: dict[str, str], amap: dict[str, str],
                out: Mapping) -> list[dict]:
    have = {(d["workspace"], d["name"]): d for d in (secondary or {}).get("datastores", [])}
    result = []
    for d in primary.get("datastores", []):
        where = f"{d['workspace']}/{d['name']}"
        if d["workspace"] not in wmap or d["name"] in SYSTEM_DATASTORES:
            continue  # the RP creates the system datastores on the secondary's own account
        if d.get("datastoreType") not in TEMPLATED_DATASTORE_TYPES:
            out.skipped.append({"kind": "datastore", "name": where,
                                "why": f"type {d.get('datastoreType')} is not templated; create it by hand"})
            continue
        e = copy.deepcopy(d)
        e["workspace"] = wmap[d["workspace"]]
        if d.get("accountName") in amap:
            e["accountName"] = amap[d["accountName"]]
        else:
            out.notes.append(f"datastore {where}: account {d.get('accountName')} is not in the plan; kept as is")
        existing = have.get((e["workspace"], e["name"]))
        if existing and existing.get("credentialsType") not in (None, "None"):
            out.skipped.append({"kind": "datastore", "name": f"{e['workspace']}/{e['name']}",
                                "why": f"exists with {existing['credentialsType']} credentials set outside the "
                                       "template; left alone"})  # fmt: skip
            continue
        if d.get("credentialsType") not in (None, "None"):
            out.notes.append(
                f"datastore {where} uses {d['credentialsType']} credentials; the secondary's twin gets "
                "identity-based access (no secret in a template). Grant the hub's identity 'Storage Blob "
                f"Data Reader' on {e['accountName']}, or set a key with `az ml datastore update`."
            )
        e["credentialsType"] = "None"
        result.append(e)
    return result


def _connections(plan: Plan, primary: dict, wmap: dict[str, str], out: Mapping) -> list[dict]:
    twins = {m.primary: m.secondary for m in plan.connections}
    s = plan.secondary
    result = []
    for c in primary.get("connections", []):
        if c["workspace"] not in wmap:
            continue
        e = copy.deepcopy(c)
        e.update(workspace=wmap[c["workspace"]], name=twins[c["name"]], target=rename(plan, c.get("target")),
                 metadata={k: rename(plan, v) if isinstance(v, str) else v
                           for k, v in (c.get("metadata") or {}).items()})  # fmt: skip
        if c.get("authType") in SECRETLESS_AUTH:
            result.append(e)
            continue
        e["templated"] = False
        result.append(e)
        out.actions.append({
            "kind": "connection",
            "name": f"{e['workspace']}/{e['name']}",
            "why": f"{c['authType']} connection: its secret cannot be templated",
            "fix": (f"create connection {e['name']} ({e.get('category')}, target {e.get('target')}) in hub "
                    f"{s.hub} with the secondary resource's key: `az ml connection create --file "
                    f"{e['name']}.yml --workspace-name {e['workspace']} --resource-group {s.resource_group}`"),
        })  # fmt: skip
    return result


def _linked(plan: Plan, primary: dict) -> dict[str, Any]:
    """The secondary's own storage accounts, Application Insights and AI Services account."""
    s = plan.secondary
    linked = primary.get("linked", {})
    accounts = linked.get("storage_accounts", {})
    amap = account_map(plan)
    storage = {}
    for old, new in amap.items():
        src = accounts.get(old) or {}
        storage[new] = {"sku": (src.get("sku") or {}).get("name") or "Standard_LRS",
                        "kind": src.get("kind") or "StorageV2"}
    out: dict[str, Any] = {"storage_accounts": storage, "application_insights": None, "ai_services": None}
    if s.application_insights:
        src = linked.get("application_insights") or {}
        # workspace-based: classic Application Insights is retired, a new one needs a Log Analytics workspace
        out["application_insights"] = {"name": s.application_insights, "kind": src.get("kind") or "web",
                                       "applicationType": src.get("applicationType") or "web",
                                       "logAnalytics": s.log_analytics}
    if s.ai_services:
        src = linked.get("ai_services") or {}
        out["ai_services"] = {"name": s.ai_services, "kind": src.get("kind") or "AIServices",
                              "sku": (src.get("sku") or {}).get("name") or "S0"}
    return out
