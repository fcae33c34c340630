"""Microsoft.CognitiveServices model deployments, the region catalogue, TPM quota and content filters.

Resource types (children of ``accounts``): ``deployments`` (PUT is long-running), ``raiPolicies``,
``raiBlocklists`` and ``raiBlocklists/raiBlocklistItems``. Provider paths: ``locations/{loc}/models``,
``locations/{loc}/modelCapacities``, ``locations/{loc}/usages`` and the subscription-wide
``modelCapacities``. Shapes follow the official examples in ``Azure/azure-rest-api-specs``,
``specification/cognitiveservices/resource-manager/Microsoft.CognitiveServices/stable/2024-10-01/examples/``
(named ``examples/...`` below); the error texts are the RP's as customers quote them in public issues
(cited at each rule).

The catalogue (which models, versions and SKUs each region offers, and the TPM quota limits) is
**sandbox data**, not Azure's real catalogue: it is chosen so that one seeded model version
(gpt-4o 2024-05-13) and one SKU (Standard for gpt-4o) are not offered in westus, the secondary,
which exercises the product's readiness path. Quota usage is not data: it is the sum of the
capacities of the deployments that exist in the subscription and region, per usage name, as Azure
counts it ("quota is assigned per subscription, per region, per model and deployment type":
learn.microsoft.com, "Manage Azure OpenAI Service quota").
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from foundry_dr_sandbox.arm.core.errors import ArmError
from foundry_dr_sandbox.arm.core.provider import Existing, Reply, Request, ResourceType

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

NAMESPACE = "Microsoft.CognitiveServices"
ACCOUNTS = f"{NAMESPACE}/accounts"
DEPLOYMENTS = f"{ACCOUNTS}/deployments"
RAI_POLICIES = f"{ACCOUNTS}/raiPolicies"
RAI_BLOCKLISTS = f"{ACCOUNTS}/raiBlocklists"
RAI_BLOCKLIST_ITEMS = f"{RAI_BLOCKLISTS}/raiBlocklistItems"
MODEL_CAPACITIES = f"{NAMESPACE}/modelCapacities"
BUILT_IN_POLICIES = ("Microsoft.Default", "Microsoft.DefaultV2")  # the RP's system-managed content filters


def _rest_model(name: str) -> type | None:
    """The SDK's REST model class for a request body (contract check), if it can be imported."""
    try:
        from azure.mgmt.cognitiveservices import models as rest
    except ImportError:  # pragma: no cover - the sandbox runs with the product's dependencies
        return None
    return getattr(rest, name, None)


# ---- the catalogue (sandbox data) ------------------------------------------------------------
CHAT = {"chatCompletion": "true", "completion": "true"}
EMBEDDINGS = {"embeddings": "true"}
# region -> [(format, name, version, capabilities, {sku name: TPM quota limit (thousands)})]
CATALOGUE: dict[str, list[tuple[str, str, str, dict, dict[str, int]]]] = {
    "eastus": [
        ("OpenAI", "gpt-4o", "2024-05-13", CHAT, {"GlobalStandard": 450, "Standard": 150}),
        ("OpenAI", "gpt-4o", "2024-08-06", CHAT, {"GlobalStandard": 450, "Standard": 150, "DataZoneStandard": 300}),
        ("OpenAI", "gpt-4o", "2024-11-20", CHAT, {"GlobalStandard": 450, "DataZoneStandard": 300}),
        ("OpenAI", "gpt-4o-mini", "2024-07-18", CHAT, {"GlobalStandard": 2000, "Standard": 1000}),
        ("OpenAI", "text-embedding-3-large", "1", EMBEDDINGS, {"Standard": 350, "GlobalStandard": 1000}),
    ],
    "westus": [  # no gpt-4o 2024-05-13, no Standard gpt-4o: the readiness path has something to find
        ("OpenAI", "gpt-4o", "2024-08-06", CHAT, {"GlobalStandard": 450, "DataZoneStandard": 300}),
        ("OpenAI", "gpt-4o", "2024-11-20", CHAT, {"GlobalStandard": 450, "DataZoneStandard": 300}),
        ("OpenAI", "gpt-4o-mini", "2024-07-18", CHAT, {"GlobalStandard": 2000}),
        ("OpenAI", "text-embedding-3-large", "1", EMBEDDINGS, {"Standard": 350, "GlobalStandard": 1000}),
    ],
}
DEFAULT_VERSIONS = {("gpt-4o", "2024-11-20"), ("gpt-4o-mini", "2024-07-18"), ("text-embedding-3-large", "1")}


def usage_name(fmt: str, sku: str, model: str) -> str:
    """A model SKU's quota row: ``skus[].usageName`` in examples/ListLocationModels.json
    ("OpenAI.Provisioned.Class1"); per-model TPM rows are named ``OpenAI.<SKU>.<model>``."""
    return f"{fmt}.{sku}.{model}"


def localized_usage(model: str) -> str:
    # The RP's own wording in quota errors: "quota Tokens Per Minute (thousands) - gpt-4o"
    # (Azure-Samples/nlp-sql-in-a-box#11, microsoft/PubSec-Info-Assistant#880).
    return f"Tokens Per Minute (thousands) - {model}"


def _offered(region: str | None) -> list[tuple[str, str, str, dict, dict[str, int]]]:
    return CATALOGUE.get(region or "", [])


def _find(region: str | None, fmt: str, name: str, version: str) -> tuple | None:
    for entry in _offered(region):
        if (entry[0].lower(), entry[1].lower(), entry[2]) == (fmt.lower(), name.lower(), version):
            return entry
    return None


def _limits(region: str | None) -> dict[str, tuple[str, int]]:
    """usage name -> (model name, limit) in a region (the limit is per model and SKU, whatever the version)."""
    out: dict[str, tuple[str, int]] = {}
    for fmt, name, _version, _caps, skus in _offered(region):
        for sku, limit in skus.items():
            out[usage_name(fmt, sku, name)] = (name, limit)
    return out


def _used(engine: Engine, subscription: str, region: str | None, skip_id: str | None = None) -> dict[str, int]:
    """Capacity held per usage name by the subscription's deployments in ``region``."""
    used: dict[str, int] = {}
    for doc, meta in engine.store.by_type(DEPLOYMENTS, f"/subscriptions/{subscription}"):
        if meta.get("region") != region or (skip_id and doc["id"].lower() == skip_id.lower()):
            continue
        model = (doc.get("properties") or {}).get("model") or {}
        sku = doc.get("sku") or {}
        key = usage_name(model.get("format", ""), sku.get("name", ""), model.get("name", ""))
        used[key] = used.get(key, 0) + int(sku.get("capacity") or 0)
    return used


# ---- deployments -------------------------------------------------------------------------------
class DeploymentType(ResourceType):
    """``accounts/{a}/deployments/{d}``: examples/PutDeployment.json answers 201 with provisioningState
    ``Accepted`` (long-running), then 200 ``Succeeded``; examples/ListDeployments.json lists them."""

    type_name = DEPLOYMENTS
    lro_put = True
    rest_model = _rest_model("Deployment")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        props = dict(body.get("properties") or {})
        sku = dict(body.get("sku") or {})
        model = dict(props.get("model") or {})
        region = parent.meta.get("region") if parent else None
        if not model.get("name") or not model.get("format") or not sku.get("name"):
            raise ArmError(400, "InvalidResourceProperties",
                           "A deployment needs 'properties.model' (format, name, version) and 'sku.name'.")  # fmt: skip
        version = str(model.get("version") or "")
        entry = _find(region, model["format"], model["name"], version) if version else None
        if entry is None and not version:  # no version: the region's default version (versionUpgradeOption docs)
            entry = next((e for e in _offered(region) if e[1] == model["name"] and (e[1], e[2]) in DEFAULT_VERSIONS),
                         None)  # fmt: skip
            if entry:
                model["version"] = version = entry[2]
        if entry is None or sku["name"] not in entry[4]:
            # 400 InvalidResourceProperties, as the RP words it: "The specified SKU 'Standard' for model
            # 'gpt-4o 2024-05-13' is not supported in this region 'francecentral'."
            # (Azure-Samples/azure-search-openai-demo#1840, Azure-Samples/contoso-creative-writer#10)
            raise ArmError(400, "InvalidResourceProperties",
                           f"The specified SKU '{sku['name']}' for model '{model['name']} {version}' is not "
                           f"supported in this region '{region}'.")  # fmt: skip
        capacity = int(sku.get("capacity") or 1)
        sku["capacity"] = capacity
        key = usage_name(model["format"], sku["name"], model["name"])
        limit = _limits(region)[key][1]
        used = _used(engine, req.path.subscription, region, skip_id=req.path.resource_id)
        available = limit - used.get(key, 0)
        held = 0
        if existing:
            old_model = (existing.doc.get("properties") or {}).get("model") or {}
            old_sku = existing.doc.get("sku") or {}
            if usage_name(old_model.get("format", ""), old_sku.get("name", ""), old_model.get("name", "")) == key:
                held = int(old_sku.get("capacity") or 0)
        if capacity > available:
            # 400 InsufficientQuota: "This operation require 10 new capacity in quota Tokens Per Minute
            # (thousands) - gpt-4o, which is bigger than the current available capacity 8. The current quota
            # usage is 0 and the quota limit is 8 for quota ..." (Azure-Samples/nlp-sql-in-a-box#11)
            quota = localized_usage(model["name"])
            raise ArmError(400, "InsufficientQuota",
                           f"This operation require {capacity - held} new capacity in quota {quota}, which is "
                           f"bigger than the current available capacity {available - held}. The current quota "
                           f"usage is {used.get(key, 0) + held} and the quota limit is {limit} for quota "
                           f"{quota}.")  # fmt: skip
        out = {
            # the RP's defaults: versionUpgradeOption OnceNewDefaultVersionAvailable (DeploymentProperties
            # in the 2024-10-01 spec), capabilities of the model (examples/ListLocationModels.json)
            "versionUpgradeOption": "OnceNewDefaultVersionAvailable",
            **{k: v for k, v in props.items() if k not in ("provisioningState", "capabilities", "rateLimits",
                                                           "callRateLimit", "dynamicThrottlingEnabled")},
            "model": model,
            "capabilities": dict(entry[3]),
            "currentCapacity": capacity,
            "rateLimits": [{"key": "token", "renewalPeriod": 60, "count": capacity * 1000}],
        }  # fmt: skip
        doc = {"sku": sku, "properties": out}
        if isinstance(body.get("tags"), dict):
            doc["tags"] = body["tags"]
        return doc, dict(existing.meta) if existing else {}


# ---- content filters ----------------------------------------------------------------------------
class RaiPolicyType(ResourceType):
    """``accounts/{a}/raiPolicies/{p}``: examples/PutRaiPolicy.json (basePolicyName, mode, contentFilters;
    the answer echoes them). A policy put here is ``type: UserManaged`` (RaiPolicyProperties.type, read-only:
    UserManaged | SystemManaged); names of the built-in policies cannot be written."""

    type_name = RAI_POLICIES
    rest_model = _rest_model("RaiPolicy")
    create_status = 201

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        name = req.path.names[-1]
        if name in BUILT_IN_POLICIES:
            # status and code are an assumption: the spec documents no error for it
            raise ArmError(400, "InvalidResourceProperties", f"The RAI policy '{name}' is system-managed.")
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        props = {k: v for k, v in (body.get("properties") or {}).items() if k != "type"}
        for ref in props.get("customBlocklists") or []:
            blocklist = f"{req.path.parent_id}/raiBlocklists/{ref.get('blocklistName')}"
            if engine.store.get(blocklist) is None:
                # a policy naming a blocklist the account lacks is refused (code: an assumption)
                raise ArmError(400, "InvalidResourceProperties",
                               f"The blocklist '{ref.get('blocklistName')}' of RAI policy '{name}' does not exist.")
        props["type"] = "UserManaged"
        doc: dict[str, Any] = {"properties": props}
        return doc, dict(existing.meta) if existing else {}


class RaiBlocklistType(ResourceType):
    """``accounts/{a}/raiBlocklists/{b}``: examples/PutRaiBlocklist.json (properties.description)."""

    type_name = RAI_BLOCKLISTS
    rest_model = _rest_model("RaiBlocklist")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        return {"properties": dict(body.get("properties") or {})}, dict(existing.meta) if existing else {}


class RaiBlocklistItemType(ResourceType):
    """``.../raiBlocklists/{b}/raiBlocklistItems/{i}``: examples/PutRaiBlocklistItem.json (pattern, isRegex)."""

    type_name = RAI_BLOCKLIST_ITEMS
    rest_model = _rest_model("RaiBlocklistItem")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        props = dict(body.get("properties") or {})
        if not props.get("pattern"):
            raise ArmError(400, "InvalidResourceProperties", "A blocklist item needs 'properties.pattern'.")
        props.setdefault("isRegex", False)
        return {"properties": props}, dict(existing.meta) if existing else {}


# ---- the region: models, capacities, usages -----------------------------------------------------
def _model_rows(region: str) -> list[dict]:
    """examples/ListLocationModels.json: kind, skuName, model {format, name, version, capabilities, skus[]
    {name, usageName, capacity}, lifecycleStatus, isDefaultVersion}."""
    rows = []
    for fmt, name, version, caps, skus in _offered(region):
        rows.append({
            "kind": "OpenAI" if fmt == "OpenAI" else "AIServices",
            "skuName": "S0",
            "model": {
                "format": fmt, "name": name, "version": version, "capabilities": dict(caps),
                "isDefaultVersion": (name, version) in DEFAULT_VERSIONS, "lifecycleStatus": "GenerallyAvailable",
                "maxCapacity": max(skus.values()),
                "skus": [{"name": sku, "usageName": usage_name(fmt, sku, name),
                          "capacity": {"minimum": 1, "maximum": limit, "step": 1, "default": min(limit, 10)}}
                         for sku, limit in skus.items()],
            },
        })  # fmt: skip
    return rows


def _capacity_rows(engine: Engine, req: Request, regions: list[str]) -> list[dict]:
    """examples/ListModelCapacities.json and ListLocationBasedModelCapacities.json: one row per region and
    SKU offering the model (modelFormat, modelName, modelVersion query), ``availableCapacity`` = the
    subscription's free quota for it there."""
    q = {k.lower(): v for k, v in req.query.items()}
    fmt, name, version = q.get("modelformat", ""), q.get("modelname", ""), q.get("modelversion", "")
    if not (fmt and name and version):
        raise ArmError(400, "BadRequest", "modelFormat, modelName and modelVersion are required.")
    rows = []
    for region in regions:
        entry = _find(region, fmt, name, version)
        if entry is None:
            continue
        used = _used(engine, req.path.subscription, region)
        for sku, limit in entry[4].items():
            free = max(0, limit - used.get(usage_name(entry[0], sku, entry[1]), 0))
            rows.append({
                "id": f"/subscriptions/{req.path.subscription}/providers/{NAMESPACE}/locations/{region}/models/"
                      f"{entry[0]}.{entry[1]}.{entry[2]}/skuCapacities/{sku}",
                "type": f"{NAMESPACE}/locations/models/skuCapacities",
                "name": sku,
                "location": region,
                "properties": {"model": {"format": entry[0], "name": entry[1], "version": entry[2]},
                               "skuName": sku, "availableCapacity": free, "availableFinetuneCapacity": 0},
            })  # fmt: skip
    return rows


def _usage_rows(engine: Engine, req: Request, region: str) -> list[dict]:
    """examples/ListUsages.json: {name {value, localizedValue}, currentValue, limit, unit}; besides the
    example's AccountCount, one row per model SKU's usageName (TPM, in thousands)."""
    accounts = [m for _d, m in engine.store.by_type(ACCOUNTS, f"/subscriptions/{req.path.subscription}")
                if m.get("region") == region]  # fmt: skip
    rows = [{"name": {"value": "AccountCount", "localizedValue": "Cognitive Services total account limit"},
             "currentValue": len(accounts), "limit": 200, "unit": "Count"}]  # fmt: skip
    used = _used(engine, req.path.subscription, region)
    for key, (model, limit) in sorted(_limits(region).items()):
        rows.append({"name": {"value": key, "localizedValue": localized_usage(model)},
                     "currentValue": used.get(key, 0), "limit": limit, "unit": "Count"})  # fmt: skip
    return rows


def location_path(engine: Engine, req: Request) -> Reply | None:
    """``locations/{loc}/models | modelCapacities | usages`` (GET), else None."""
    rest = [s.lower() for s in req.path.rest]
    if req.method != "GET" or len(rest) != 3 or rest[0] != "locations":
        return None
    region = rest[1].replace(" ", "")
    if rest[2] == "models":
        return Reply(200, engine._page(req, _model_rows(region)))
    if rest[2] == "modelcapacities":
        return Reply(200, engine._page(req, _capacity_rows(engine, req, [region])))
    if rest[2] == "usages":
        return Reply(200, engine._page(req, _usage_rows(engine, req, region)))
    return None


class ModelCapacitiesType(ResourceType):
    """The subscription-wide ``GET /subscriptions/{s}/providers/Microsoft.CognitiveServices/modelCapacities``
    (examples/ListModelCapacities.json): the engine reads it as a listing, this type supplies its rows."""

    type_name = MODEL_CAPACITIES

    def list_filter(self, engine: Engine, req: Request, items: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
        return [(row, {}) for row in _capacity_rows(engine, req, sorted(CATALOGUE))]


RESOURCE_TYPES: list[ResourceType] = [
    DeploymentType(), RaiPolicyType(), RaiBlocklistType(), RaiBlocklistItemType(), ModelCapacitiesType(),
]  # fmt: skip
