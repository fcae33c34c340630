"""AI Services model deployments, content filters and blocklists: what the secondary account needs.

Pure: the inputs are the wire shapes the Cognitive Services RP answers (``serialize(keep_readonly=True)``
of the SDK models, the shapes of the official examples ``PutDeployment.json``, ``ListLocationModels.json``,
``ListUsages.json``, ``PutRaiPolicy.json``, ``PutRaiBlocklist.json``, ``PutRaiBlocklistItem.json`` in
``Azure/azure-rest-api-specs``, ``specification/cognitiveservices/.../stable/2024-10-01/examples/``).

:func:`plan_account` decides, per item of the primary account, ``create`` / ``update`` (drift: the
changed fields are named) / ``unchanged`` / ``deferred`` (hot-cold: created at cut-over) / ``problem``
(the model, version or SKU is not offered in the secondary region -- the nearest offered version or SKU
is named --, quota is short -- by how much --, or the model is fine-tuned). Blocklists come first,
then RAI policies (which name blocklists), then deployments (which name policies).

Standby capacity per strategy (``model_deployments`` in the plan): hot-hot keeps the primary's capacity,
hot-warm a plan-set minimum (raised at cut-over), hot-cold creates nothing until cut-over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from foundry_dr.plan import ModelDeployments

BUILT_IN_POLICIES = ("Microsoft.Default", "Microsoft.DefaultV2")
# Deployment types whose data processing differs least, nearest first (learn.microsoft.com, "Deployment
# types for Azure AI Foundry Models": Standard is regional, DataZone within a data zone, Global anywhere).
SKU_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "Standard": ("DataZoneStandard", "GlobalStandard"),
    "DataZoneStandard": ("Standard", "GlobalStandard"),
    "GlobalStandard": ("DataZoneStandard", "Standard"),
    "ProvisionedManaged": ("DataZoneProvisionedManaged", "GlobalProvisionedManaged"),
    "DataZoneProvisionedManaged": ("ProvisionedManaged", "GlobalProvisionedManaged"),
    "GlobalProvisionedManaged": ("DataZoneProvisionedManaged", "ProvisionedManaged"),
    "GlobalBatch": ("DataZoneBatch",),
    "DataZoneBatch": ("GlobalBatch",),
}
# The writable DeploymentProperties copied to the secondary (dynamicThrottlingEnabled, rateLimits,
# callRateLimit and capabilities are read-only in the SDK's REST model: the RP derives them).
COPIED_PROPERTIES = ("raiPolicyName", "versionUpgradeOption", "capacitySettings", "spilloverDeploymentName",
                     "parentDeploymentName")  # fmt: skip


@dataclass
class Item:
    """One thing in the secondary account and what to do about it."""

    kind: str  # blocklist | blocklist-item | rai-policy | deployment
    name: str  # blocklist items: "<blocklist>/<item>"
    action: str  # create | update | unchanged | deferred | problem | extra
    body: dict | None = None  # what to PUT (create / update)
    changes: list[str] = field(default_factory=list)
    reason: str = ""
    strategy: str = ""
    capacity: int | None = None
    usage: str | None = None  # the quota row a deployment counts against
    needs: int = 0  # new capacity against that row

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update")

    def row(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "action": self.action, "strategy": self.strategy,
                "capacity": "" if self.capacity is None else self.capacity,
                "changes": ", ".join(self.changes), "reason": self.reason}  # fmt: skip


@dataclass
class AccountPlan:
    source: str
    target: str
    location: str
    items: list[Item] = field(default_factory=list)

    @property
    def problems(self) -> list[Item]:
        return [i for i in self.items if i.action == "problem"]

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]


# ---- helpers ---------------------------------------------------------------------------------------
def _props(doc: dict) -> dict:
    return doc.get("properties") or {}


def _model_key(model: dict) -> tuple[str, str, str]:
    fmt, name = str(model.get("format") or "").lower(), str(model.get("name") or "").lower()
    return fmt, name, str(model.get("version") or "")


def _version_value(version: str) -> tuple[int, float]:
    """Comparable value of a model version: dates (2024-08-06) and numbers (1, 0613); else unordered."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
        return 0, float(date.fromisoformat(version).toordinal())
    if re.fullmatch(r"\d+(\.\d+)?", version):
        return 1, float(version)
    return 2, 0.0


def nearest_version(wanted: str, offered: list[str]) -> str | None:
    """The offered version closest to ``wanted`` (same kind of version string; a tie goes to the newer)."""
    if not offered:
        return None
    kind, value = _version_value(wanted)
    same = [v for v in offered if _version_value(v)[0] == kind and kind != 2]
    if not same:
        return sorted(offered)[-1]
    return min(same, key=lambda v: (abs(_version_value(v)[1] - value), -_version_value(v)[1]))


def nearest_sku(wanted: str, offered: list[str]) -> str | None:
    for candidate in SKU_NEIGHBOURS.get(wanted, ()):
        if candidate in offered:
            return candidate
    return sorted(offered)[0] if offered else None


def _catalogue(models: list[dict]) -> dict[tuple[str, str, str], dict[str, str | None]]:
    """(format, name, version) -> {sku name: usageName} from a ListLocationModels answer."""
    out: dict[tuple[str, str, str], dict[str, str | None]] = {}
    for row in models:
        model = row.get("model") or {}
        skus = out.setdefault(_model_key(model), {})
        for sku in model.get("skus") or []:
            if sku.get("name"):
                skus[sku["name"]] = sku.get("usageName")
    return out


def _usages(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """usage name -> (currentValue, limit) from a ListUsages answer."""
    out = {}
    for row in rows:
        name = (row.get("name") or {}).get("value")
        if name:
            out[name] = (float(row.get("currentValue") or 0), float(row.get("limit") or 0))
    return out


def _canonical(value: Any) -> Any:
    """Order-insensitive form of lists of objects (content filters, blocklist configs) for comparison."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=repr)
    return value


def _diff(desired: dict, current: dict, fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if _canonical(desired.get(f)) != _canonical(current.get(f))]


# ---- content filters -------------------------------------------------------------------------------
def _blocklist_items(source: list[dict], target: list[dict]) -> list[Item]:
    out = []
    theirs = {b["name"].lower(): b for b in target}
    for blocklist in sorted(source, key=lambda b: b["name"]):
        name = blocklist["name"]
        desired = {"properties": {"description": _props(blocklist).get("description")}}
        current = theirs.get(name.lower())
        if current is None:
            out.append(Item("blocklist", name, "create", desired))
        else:
            changes = _diff(desired["properties"], _props(current), ("description",))
            out.append(Item("blocklist", name, "update" if changes else "unchanged", desired, changes))
        mine = {i["name"].lower(): i for i in (current or {}).get("items") or []}
        wanted = set()
        for entry in sorted(blocklist.get("items") or [], key=lambda i: i["name"]):
            p = _props(entry)
            body = {"properties": {"pattern": p.get("pattern"), "isRegex": bool(p.get("isRegex"))}}
            wanted.add(entry["name"].lower())
            there = mine.get(entry["name"].lower())
            label = f"{name}/{entry['name']}"
            if there is None:
                out.append(Item("blocklist-item", label, "create", body))
            else:
                there_p = {"pattern": _props(there).get("pattern"), "isRegex": bool(_props(there).get("isRegex"))}
                changes = _diff(body["properties"], there_p, ("pattern", "isRegex"))
                out.append(Item("blocklist-item", label, "update" if changes else "unchanged", body, changes))
        for key, there in sorted(mine.items()):
            if key not in wanted:  # reported, never deleted: removing a block entry is a person's decision
                out.append(Item("blocklist-item", f"{name}/{there['name']}", "extra",
                                reason="in the secondary only (not deleted)"))  # fmt: skip
    return out


def _is_custom_policy(policy: dict) -> bool:
    return policy.get("name") not in BUILT_IN_POLICIES and _props(policy).get("type") != "SystemManaged"


POLICY_FIELDS = ("basePolicyName", "mode", "contentFilters", "customBlocklists", "customTopics")


def _policy_items(source: list[dict], target: list[dict]) -> list[Item]:
    out = []
    theirs = {p["name"].lower(): p for p in target}
    for policy in sorted((p for p in source if _is_custom_policy(p)), key=lambda p: p["name"]):
        props = _props(policy)
        desired = {"properties": {k: props[k] for k in POLICY_FIELDS if props.get(k) is not None}}
        current = theirs.get(policy["name"].lower())
        if current is None:
            out.append(Item("rai-policy", policy["name"], "create", desired))
        else:
            changes = _diff(desired["properties"], _props(current), POLICY_FIELDS)
            out.append(Item("rai-policy", policy["name"], "update" if changes else "unchanged", desired, changes))
    return out


# ---- deployments -----------------------------------------------------------------------------------
def _desired_deployment(doc: dict, settings: ModelDeployments, default_strategy: str) -> tuple[dict, str]:
    """The secondary's deployment body (mapping applied, capacity per strategy) and its strategy."""
    mapping = settings.mapping(doc["name"])
    props = _props(doc)
    model = {k: v for k, v in (props.get("model") or {}).items() if k in ("format", "name", "version", "publisher")}
    sku = dict(doc.get("sku") or {})
    if mapping:
        if mapping.model_name:
            model["name"] = mapping.model_name
        if mapping.model_version:
            model["version"] = mapping.model_version
        if mapping.sku:
            sku["name"] = mapping.sku
    strategy = (mapping.strategy if mapping else None) or settings.strategy or default_strategy
    full = int(sku.get("capacity") or 1)
    standby = (mapping.standby_capacity if mapping else None) or settings.standby_capacity
    sku = {k: v for k, v in sku.items() if k in ("name", "tier", "size", "family", "capacity") and v is not None}
    sku["capacity"] = full if strategy == "hot-hot" else min(full, standby)
    body: dict[str, Any] = {"sku": sku, "properties": {"model": model}}
    for key in COPIED_PROPERTIES:
        if props.get(key) is not None:
            body["properties"][key] = props[key]
    if doc.get("tags"):
        body["tags"] = dict(doc["tags"])
    return body, strategy


def _deployment_changes(desired: dict, current: dict) -> list[str]:
    changes = []
    dsku, csku = desired.get("sku") or {}, current.get("sku") or {}
    if dsku.get("name") != csku.get("name"):
        changes.append("sku")
    if dsku.get("capacity") != csku.get("capacity"):
        changes.append("capacity")
    dp, cp = _props(desired), _props(current)
    if _model_key(dp.get("model") or {}) != _model_key(cp.get("model") or {}):
        changes.append("model")
    changes += _diff(dp, cp, COPIED_PROPERTIES)
    if (desired.get("tags") or {}) != (current.get("tags") or {}):
        changes.append("tags")
    return changes


def _offer_problem(name: str, body: dict, catalogue: dict, location: str) -> str | None:
    """Why the region cannot take the deployment (model / version / SKU), naming what it offers instead."""
    model = _props(body)["model"]
    sku = body["sku"]["name"]
    fmt, mname, version = _model_key(model)
    label = f"deployment {name!r}: model {model.get('name')} version {model.get('version')} ({sku})"
    skus = catalogue.get((fmt, mname, version))
    if skus is None:
        versions = sorted({v for (f, n, v) in catalogue if (f, n) == (fmt, mname)})
        if not versions:
            return f"{label}: model {model.get('name')} is not offered in {location} (in no version)"
        near = nearest_version(version, versions)
        return (f"{label}: version {version} is not offered in {location}; offered versions: {', '.join(versions)}"
                f" (nearest: {near}); map it in the plan: model_deployments.deployments[].model_version")  # fmt: skip
    if sku not in skus:
        near = nearest_sku(sku, sorted(skus))
        offered = ", ".join(sorted(skus)) or "none"
        return (f"{label}: SKU {sku} is not offered for {model.get('name')} {version} in {location}; offered SKUs: "
                f"{offered} (nearest: {near}; its data processing location differs); map it in the plan: "
                f"model_deployments.deployments[].sku")  # fmt: skip
    return None


def _deployment_items(source: list[dict], target: list[dict], region: dict, settings: ModelDeployments,
                      default_strategy: str) -> list[Item]:  # fmt: skip
    location = region.get("location") or "the secondary region"
    catalogue = _catalogue(region.get("models") or [])
    usages = _usages(region.get("usages") or [])
    available = region.get("capacities") or {}  # (format, name, version, sku) -> availableCapacity
    theirs = {d["name"].lower(): d for d in target}
    out: list[Item] = []
    for doc in sorted(source, key=lambda d: d["name"]):
        name = doc["name"]
        body, strategy = _desired_deployment(doc, settings, default_strategy)
        capacity = body["sku"]["capacity"]
        model = _props(doc).get("model") or {}
        if model.get("source") or model.get("sourceAccount") or ".ft-" in str(model.get("name") or ""):
            out.append(Item("deployment", name, "problem", strategy=strategy, capacity=capacity, reason=(
                f"deployment {name!r}: model {model.get('name')} is a custom (fine-tuned) model of "
                f"{model.get('source') or model.get('sourceAccount') or 'the primary account'}: its weights are not "
                "copied (out of scope); "
                "fine-tune or copy it in the secondary and map it in model_deployments.deployments[]")))  # fmt: skip
            continue
        problem = _offer_problem(name, body, catalogue, location)
        if problem:
            out.append(Item("deployment", name, "problem", strategy=strategy, capacity=capacity, reason=problem))
            continue
        m = _props(body)["model"]
        usage = catalogue[_model_key(m)].get(body["sku"]["name"])
        current = theirs.get(name.lower())
        if strategy == "hot-cold" and current is None:
            out.append(Item("deployment", name, "deferred", body, strategy=strategy, capacity=capacity,
                            usage=usage, reason="hot-cold: created at cut-over"))  # fmt: skip
            continue
        held = 0
        if current is not None:
            cm, csku = _props(current).get("model") or {}, current.get("sku") or {}
            same_row = catalogue.get(_model_key(cm), {}).get(csku.get("name")) == usage
            held = int(csku.get("capacity") or 0) if same_row else 0
            changes = _deployment_changes(body, current)
            action = "update" if changes else "unchanged"
        else:
            changes, action = [], "create"
        item = Item("deployment", name, action, body, changes, strategy=strategy, capacity=capacity, usage=usage,
                    needs=max(0, capacity - held) if action != "unchanged" else 0)  # fmt: skip
        limit_key = (m.get("format"), m.get("name"), m.get("version"), body["sku"]["name"])
        if item.needs and limit_key in available and item.needs > int(available[limit_key]):
            item.action, item.reason = "problem", (
                f"deployment {name!r}: {m.get('name')} {m.get('version')} ({body['sku']['name']}) needs {item.needs} "
                f"more capacity in {location}, the region has {int(available[limit_key])} available (model "
                "capacities); choose another SKU or a lower standby_capacity")  # fmt: skip
        out.append(item)
    _check_quota([i for i in out if i.needs and i.action in ("create", "update")], usages, location)
    return out


def _check_quota(items: list[Item], usages: dict[str, tuple[float, float]], location: str) -> None:
    """Quota per usage row (per model and SKU): the new capacity of all the deployments counting against
    it must fit in limit - currentValue, else each of them is a problem saying by how much it is short."""
    by_usage: dict[str, list[Item]] = {}
    for item in items:
        by_usage.setdefault(item.usage or "", []).append(item)
    for usage, group in by_usage.items():
        needed = sum(i.needs for i in group)
        if usage not in usages:
            for i in group:
                i.action, i.reason = "problem", (
                    f"deployment {i.name!r}: no quota row {usage or '(none named)'} in {location}'s usages")
            continue
        current, limit = usages[usage]
        free = limit - current
        if needed > free:
            names = ", ".join(i.name for i in group)
            for i in group:
                i.action, i.reason = "problem", (
                    f"deployment {i.name!r}: quota {usage} in {location} is short by {needed - free:g} (needs "
                    f"{needed} for {names}; {free:g} free of {limit:g}, {current:g} in use): request a quota "
                    "increase or lower model_deployments standby_capacity / strategy")  # fmt: skip


def plan_account(source: dict, target: dict, region: dict, settings: ModelDeployments,
                 default_strategy: str) -> AccountPlan:  # fmt: skip
    """What the target account needs, from both accounts' inventories (``deployments``, ``rai_policies``,
    ``blocklists`` with ``items``) and the target region's ``models``, ``usages`` and ``capacities``."""
    plan = AccountPlan(source.get("account", ""), target.get("account", ""), region.get("location", ""))
    plan.items += _blocklist_items(source.get("blocklists") or [], target.get("blocklists") or [])
    plan.items += _policy_items(source.get("rai_policies") or [], target.get("rai_policies") or [])
    plan.items += _deployment_items(source.get("deployments") or [], target.get("deployments") or [], region,
                                    settings, default_strategy)  # fmt: skip
    return plan


def summary(plan: AccountPlan) -> str:
    counts: dict[str, int] = {}
    for item in plan.items:
        counts[item.action] = counts.get(item.action, 0) + 1
    return ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing to do"


def report(plan: AccountPlan | None, results: dict[str, dict[str, Any]], skipped: str | None = None,
           ) -> tuple[str, list[dict[str, Any]]]:  # fmt: skip
    """Markdown section and table rows of the model deployments part of a recreate-deployments run."""
    if plan is None:
        return f"## AI Services model deployments\n\n- skipped: {skipped}\n", []
    rows = []
    for item in plan.items:
        row = item.row()
        outcome = results.get(f"{item.kind}/{item.name}", {})
        row["seconds"] = outcome.get("seconds", "")
        row["error"] = outcome.get("error", "")
        rows.append(row)
    lines = [
        f"## AI Services model deployments: {plan.source} -> {plan.target} ({plan.location})", "",
        f"- items: {summary(plan)}", "",
        "| kind | name | action | strategy | capacity | changes | seconds | error / reason |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r['kind']} | {r['name']} | {r['action']} | {r['strategy']} | {r['capacity']} | {r['changes']} | "
          f"{r['seconds']} | {r['error'] or r['reason']} |" for r in rows),
    ]  # fmt: skip
    return "\n".join(lines) + "\n", rows
