"""Render the desired secondary as a *literal* ARM template (pure).

Literal means: no parameters, variables or ``[...]`` expressions; every id and value is written
out, so the template deploys as is (``az deployment group create --template-file``, the portal,
the sandbox) and operators can keep it in their own pipelines. A string that happens to start
with ``[`` is escaped as ``[[``, as ARM requires. ``dependsOn`` holds full resource ids of
resources of this template; resources outside it (the shared Key Vault and registry) are only
referenced.
"""

from __future__ import annotations

import copy
from typing import Any

from foundry_dr.plan import Plan
from foundry_dr.resource_ids import ML, arm_id

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
CONTENT_VERSION = "1.0.0.0"
API_VERSIONS: dict[str, str] = {
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.CognitiveServices/accounts": "2024-10-01",
    f"{ML}/workspaces": "2024-04-01",
    f"{ML}/workspaces/computes": "2024-04-01",
    f"{ML}/workspaces/datastores": "2024-04-01",
    f"{ML}/workspaces/connections": "2024-04-01",
}
# Tracked resources need a location; datastores and connections are proxy resources without one.
NEEDS_LOCATION = frozenset(t for t in API_VERSIONS if not t.endswith(("/datastores", "/connections")))


def _escape(value: Any) -> Any:
    """ARM evaluates a string starting with ``[``; ``[[`` keeps it literal."""
    if isinstance(value, str):
        return "[" + value if value.startswith("[") else value
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    return value


def _clean(d: dict) -> dict:
    """Drop unset values, so the template states only what we mean to set."""
    return {k: v for k, v in d.items() if v is not None and v != {}}


def render(plan: Plan, desired: dict[str, Any]) -> dict[str, Any]:
    """The ARM template of the desired secondary (``foundry_dr.secondary.map_to_secondary``)."""
    s = plan.secondary
    loc = s.location

    def rid(rtype: str, name: str) -> str:
        return arm_id(s.subscription_id, s.resource_group, rtype, name)

    resources: list[dict] = []

    def add(rtype: str, name: str, body: dict, depends: list[str] | None = None) -> str:
        res = {"type": rtype, "apiVersion": API_VERSIONS[rtype], "name": name}
        if rtype in NEEDS_LOCATION:
            res["location"] = loc
        res.update(body)
        if depends:
            res["dependsOn"] = sorted(set(depends))
        resources.append(res)
        return rid(rtype, name)

    linked = desired.get("linked", {})
    in_template: dict[str, str] = {}  # resource id (lower) -> id, to depend only on template resources
    for account, spec in (linked.get("storage_accounts") or {}).items():
        i = add("Microsoft.Storage/storageAccounts", account, {
            "kind": spec["kind"], "sku": {"name": spec["sku"]},
            "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
        })  # fmt: skip
        in_template[i.lower()] = i
    appi = linked.get("application_insights")
    if appi:
        # workspace-based (classic is retired): its Log Analytics workspace first, as in the specs'
        # examples (OperationalInsights 2023-09-01 WorkspacesCreate, Insights 2020-02-02 ComponentsCreate)
        logs = add("Microsoft.OperationalInsights/workspaces", appi["logAnalytics"],
                   {"properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}})
        in_template[logs.lower()] = logs
        i = add("Microsoft.Insights/components", appi["name"],
                {"kind": appi["kind"], "properties": {"Application_Type": appi["applicationType"],
                                                      "WorkspaceResourceId": logs}}, [logs])
        in_template[i.lower()] = i
    ais = linked.get("ai_services")
    if ais:
        i = add("Microsoft.CognitiveServices/accounts", ais["name"],
                {"kind": ais["kind"], "sku": {"name": ais["sku"]}, "properties": {"customSubDomainName": ais["name"]}})
        in_template[i.lower()] = i

    # user-assigned identities the mapped workspaces name in the secondary's group: created here
    own_group = f"/subscriptions/{plan.secondary.subscription_id}/resourcegroups/{plan.secondary.resource_group}/"
    for ws in [desired["hub"], *desired.get("projects", [])]:
        for uai in ((ws.get("identity") or {}).get("userAssignedIdentities") or {}):
            if uai.lower().startswith(own_group.lower()) and uai.lower() not in in_template:
                name = uai.rsplit("/", 1)[-1]
                in_template[uai.lower()] = add("Microsoft.ManagedIdentity/userAssignedIdentities", name, {})

    def only_ours(*ids: str | None) -> list[str]:
        return [in_template[i.lower()] for i in ids if i and i.lower() in in_template]

    hub = desired["hub"]
    hub_props = _clean({
        "friendlyName": hub.get("friendlyName"), "description": hub.get("description") or None,
        "storageAccount": hub.get("storageAccount"), "keyVault": hub.get("keyVault"),
        "applicationInsights": hub.get("applicationInsights"), "containerRegistry": hub.get("containerRegistry"),
        "publicNetworkAccess": hub.get("publicNetworkAccess"),
        "managedNetwork": _managed_network(hub),
        "primaryUserAssignedIdentity": hub.get("primaryUserAssignedIdentity"),
        "enableDataIsolation": hub.get("enableDataIsolation"),
    })  # fmt: skip
    hub_id = add(f"{ML}/workspaces", hub["name"], _workspace_envelope(hub, "Hub", hub_props),
                 only_ours(hub.get("storageAccount"), hub.get("applicationInsights"),
                           *((hub.get("identity") or {}).get("userAssignedIdentities") or {})))
    ws_ids = {hub["name"]: hub_id}
    for p in desired.get("projects", []):
        props = _clean({"friendlyName": p.get("friendlyName"), "description": p.get("description") or None,
                        "hubResourceId": hub_id, "primaryUserAssignedIdentity": p.get("primaryUserAssignedIdentity")})
        ws_ids[p["name"]] = add(f"{ML}/workspaces", p["name"], _workspace_envelope(p, "Project", props),
                                [hub_id, *only_ours(*((p.get("identity") or {}).get("userAssignedIdentities") or {}))])
    for c in desired.get("computes", []):
        scale = {"minNodeCount": c["minNodeCount"], "maxNodeCount": c["maxNodeCount"]}
        if c.get("idleSeconds") is not None:
            scale["nodeIdleTimeBeforeScaleDown"] = f"PT{int(c['idleSeconds'])}S"
        inner = _clean({"vmSize": c["vmSize"], "vmPriority": c.get("vmPriority") or "Dedicated",
                        "scaleSettings": scale})
        add(f"{ML}/workspaces/computes", f"{c['workspace']}/{c['name']}",
            {"properties": _clean({"computeType": "AmlCompute", "description": c.get("description"),
                                   "properties": inner})},
            [ws_ids[c["workspace"]]])  # fmt: skip
    for d in desired.get("datastores", []):
        props = _clean({
            "datastoreType": d["datastoreType"], "accountName": d["accountName"],
            "containerName": d.get("containerName") if d["datastoreType"] == "AzureBlob" else None,
            "filesystem": d.get("containerName") if d["datastoreType"] == "AzureDataLakeGen2" else None,
            "endpoint": d.get("endpoint"), "protocol": d.get("protocol"), "description": d.get("description"),
            "credentials": {"credentialsType": "None"},
        })  # fmt: skip
        account = rid("Microsoft.Storage/storageAccounts", d["accountName"])
        add(f"{ML}/workspaces/datastores", f"{d['workspace']}/{d['name']}", {"properties": props},
            [ws_ids[d["workspace"]], *only_ours(account)])
    for c in desired.get("connections", []):
        if c.get("templated") is False:
            continue  # needs a secret: the operator creates it (see Mapping.actions)
        props = _clean({"category": c.get("category"), "target": c.get("target"), "authType": c.get("authType"),
                        "metadata": c.get("metadata") or None})
        ais_id = rid("Microsoft.CognitiveServices/accounts", ais["name"]) if ais else None
        add(f"{ML}/workspaces/connections", f"{c['workspace']}/{c['name']}", {"properties": props},
            [ws_ids[c["workspace"]], *only_ours(ais_id)])
    return {
        "$schema": SCHEMA,
        "contentVersion": CONTENT_VERSION,
        "metadata": {"generator": "foundry-dr provision-secondary", "plan": plan.name},
        "resources": _escape(resources),
    }


def _managed_network(hub: dict) -> dict | None:
    """Isolation mode and its outbound rules (rules copied: the mode alone would leave the
    secondary's private endpoints and FQDN allowances missing)."""
    if not hub.get("isolationMode"):
        return None
    return _clean({"isolationMode": hub["isolationMode"], "outboundRules": hub.get("outboundRules") or None})


def _workspace_envelope(ws: dict, kind: str, props: dict) -> dict:
    body: dict[str, Any] = {"kind": kind}
    if ws.get("sku"):
        body["sku"] = copy.deepcopy(ws["sku"])
    if ws.get("identity"):
        body["identity"] = copy.deepcopy(ws["identity"])
    elif ws.get("identityType"):
        body["identity"] = {"type": ws["identityType"]}
    if ws.get("tags"):
        body["tags"] = dict(ws["tags"])
    body["properties"] = props
    return body


def resource_ids(plan: Plan, template: dict) -> list[str]:
    """Ids of the template's resources, in template order (the secondary's resource group)."""
    s = plan.secondary
    return [arm_id(s.subscription_id, s.resource_group, r["type"], r["name"]) for r in template["resources"]]


def template_problems(template: dict, subscription: str, resource_group: str) -> list[str]:
    """What makes ``template`` not a deployable literal template (empty list when it is)."""
    problems: list[str] = []
    if template.get("$schema") != SCHEMA:
        problems.append("$schema is missing or not the deploymentTemplate schema")
    if not isinstance(template.get("contentVersion"), str):
        problems.append("contentVersion is missing")
    for section in ("parameters", "variables", "functions"):
        if template.get(section):
            problems.append(f"a literal template has no {section}")
    resources = template.get("resources")
    if not isinstance(resources, list) or not resources:
        return [*problems, "resources must be a non-empty list"]
    ids = set()
    for i, r in enumerate(resources):
        for k in ("type", "apiVersion", "name"):
            if not isinstance(r.get(k), str) or not r.get(k):
                problems.append(f"resources[{i}] has no {k}")
        if r.get("type") in NEEDS_LOCATION and not r.get("location"):
            problems.append(f"resources[{i}] ({r.get('type')}) needs a location")
        if isinstance(r.get("type"), str) and isinstance(r.get("name"), str):
            ids.add(arm_id(subscription, resource_group, r["type"], r["name"]).lower())
    for i, r in enumerate(resources):
        for dep in r.get("dependsOn", []):
            if dep.lower() not in ids:
                problems.append(f"resources[{i}] ({r.get('name')}) depends on {dep}, which is not in the template")
    problems.extend(f"template expression at {where}: {value}" for where, value in expressions(template))
    return problems


def expressions(value: Any, where: str = "$") -> list[tuple[str, str]]:
    """Every string that ARM would evaluate as an expression (starts with ``[``, not ``[[``)."""
    if isinstance(value, str):
        return [(where, value)] if value.startswith("[") and not value.startswith("[[") else []
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in expressions(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in expressions(k, where) + expressions(v, f"{where}.{k}")]
    return []
