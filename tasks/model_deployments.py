"""AI Services model deployments, content filters (RAI policies) and blocklists, through
azure-mgmt-cognitiveservices: the accounts' inventories, the target region's offer and quota, the
readiness check (before any write) and the writes (blocklists and their items, then policies, then
deployments). The decisions are :mod:`foundry_dr.model_deployments`' (pure)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from prefect import task

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import PrerequisitesMissing
from foundry_dr.model_deployments import AccountPlan, Item, plan_account, report, summary
from foundry_dr.sides import Side
from foundry_dr.tasks.retried import RETRIED, RETRIED_APPLY

DEPLOYMENTS_IN_PARALLEL = 4  # an account's deployment writes at once (each is a long-running PUT)


def _wire(model: Any) -> dict:
    """An SDK model as the RP sent it (camelCase, read-only fields included)."""
    return model.serialize(keep_readonly=True)


@task(name="read-ai-services", **RETRIED)
def read_account(factory: ClientFactory, side: Side) -> dict[str, Any]:
    """The side's AI Services account: deployments, RAI policies, blocklists with their items."""
    s = factory.plan.side(side)
    out: dict[str, Any] = {"account": s.ai_services, "location": s.location, "exists": False,
                           "deployments": [], "rai_policies": [], "blocklists": []}  # fmt: skip
    if not s.ai_services:
        return out
    client = factory.cognitive_client(s.subscription_id)
    rg, name = s.resource_group, s.ai_services
    try:
        client.accounts.get(rg, name)
    except ResourceNotFoundError:
        return out
    out["exists"] = True
    out["deployments"] = [_wire(d) for d in client.deployments.list(rg, name)]
    out["rai_policies"] = [_wire(p) for p in client.rai_policies.list(rg, name)]
    for blocklist in client.rai_blocklists.list(rg, name):
        doc = _wire(blocklist)
        doc["items"] = [_wire(i) for i in client.rai_blocklist_items.list(rg, name, blocklist.name)]
        out["blocklists"].append(doc)
    return out


@task(name="read-ai-region", **RETRIED)
def read_region(factory: ClientFactory, side: Side, models: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The side's region: models offered (with SKUs and their usage names), usages (TPM quota per model
    and SKU) and, for each ``(format, name, version)`` in ``models``, the available capacity per SKU."""
    s = factory.plan.side(side)
    client = factory.cognitive_client(s.subscription_id)
    capacities: dict[tuple, float] = {}
    for fmt, name, version in sorted(set(models)):
        for row in client.location_based_model_capacities.list(s.location, fmt, name, version):
            p = row.properties
            if p is not None and p.sku_name and p.available_capacity is not None:
                capacities[(fmt, name, version, p.sku_name)] = p.available_capacity
    return {
        "location": s.location,
        "models": [_wire(m) for m in client.models.list(s.location)],
        "usages": [_wire(u) for u in client.usages.list(s.location)],
        "capacities": capacities,
    }


def prepare(factory: ClientFactory, source: Side, target: Side, sizing: str = "standby") -> dict[str, Any]:
    """Read both accounts and the target region, decide, and raise :class:`PrerequisitesMissing` before any
    write when a deployment cannot be had there (naming deployment, model, region and what is offered).

    Skipped (with the reason) when the plan turns it off, a side names no AI Services account, or either
    account does not exist (provision-secondary creates the secondary's)."""
    plan = factory.plan
    settings = plan.model_deployments
    src_side, dst_side = plan.side(source), plan.side(target)
    if not settings.enabled or not src_side.ai_services or not dst_side.ai_services:
        return {"skipped": "no AI Services account pair in the plan (or model_deployments.enabled: false)"}
    if target == "primary":
        # Fail-back would copy the secondary's deployments (its mapped versions, its standby
        # capacities) over the primary's own: a change to the primary nobody asked for. Until
        # fail-back restores the primary's recorded capacities, the primary is left as it is.
        return {"skipped": "fail-back does not touch the primary's AI Services deployments yet: they are "
                           "left as they are (the secondary's are scaled back by hand)"}  # fmt: skip
    src, dst = read_account(factory, source), read_account(factory, target)
    for inv, role in ((src, source), (dst, target)):
        if not inv["exists"]:
            hint = " (run provision-secondary first)" if role == "secondary" else ""
            return {"skipped": f"the {role} AI Services account {inv['account']} does not exist{hint}"}
    wanted = []
    for doc in src["deployments"]:
        model = (doc.get("properties") or {}).get("model") or {}
        mapping = settings.mapping(doc["name"])
        wanted.append((model.get("format") or "", (mapping and mapping.model_name) or model.get("name") or "",
                       (mapping and mapping.model_version) or model.get("version") or ""))  # fmt: skip
    region = read_region(factory, target, [w for w in wanted if all(w)])
    strategy = plan.strategy.default
    if sizing == "production":  # every deployment at the primary's capacity
        strategy = "hot-hot"
        settings = settings.model_copy(update={"strategy": "hot-hot", "deployments": [
            m.model_copy(update={"strategy": "hot-hot"}) for m in settings.deployments]})  # fmt: skip
    decided = plan_account(src, dst, region, settings, strategy)
    problems = [i.reason for i in decided.problems]
    if problems:
        raise PrerequisitesMissing(
            f"{len(problems)} AI Services deployment(s) of {decided.source} cannot be recreated in "
            f"{decided.target} ({decided.location}); nothing was written: " + "; ".join(problems),
            problems,
        )
    return {"plan": decided}


def _put(factory: ClientFactory, target: Side, item: Item) -> None:
    from azure.mgmt.cognitiveservices import models

    s = factory.plan.side(target)
    client = factory.cognitive_client(s.subscription_id)
    rg, account = s.resource_group, s.ai_services
    if item.kind == "blocklist":
        client.rai_blocklists.create_or_update(rg, account, item.name, models.RaiBlocklist.deserialize(item.body))
    elif item.kind == "blocklist-item":
        blocklist, name = item.name.split("/", 1)
        client.rai_blocklist_items.create_or_update(rg, account, blocklist, name,
                                                    models.RaiBlocklistItem.deserialize(item.body))  # fmt: skip
    elif item.kind == "rai-policy":
        client.rai_policies.create_or_update(rg, account, item.name, models.RaiPolicy.deserialize(item.body))
    else:
        client.deployments.begin_create_or_update(rg, account, item.name,
                                                  models.Deployment.deserialize(item.body)).result()  # fmt: skip


@task(name="apply-ai-services", **RETRIED_APPLY)
def apply(factory: ClientFactory, target: Side, decided: AccountPlan) -> dict[str, dict[str, Any]]:
    """Write what the plan says, content filters first; deployments a few at a time. Idempotent: an
    item already as wanted is not written (a retried run re-reads nothing it does not need)."""
    results: dict[str, dict[str, Any]] = {}

    def one(item: Item) -> None:
        t = time.monotonic()
        try:
            _put(factory, target, item)
            results[f"{item.kind}/{item.name}"] = {"seconds": round(time.monotonic() - t, 2)}
        except Exception as exc:  # noqa: BLE001 - reported per item, the run fails below
            results[f"{item.kind}/{item.name}"] = {"error": f"{type(exc).__name__}: {exc}"}

    for kind in ("blocklist", "blocklist-item", "rai-policy"):
        for item in decided.of(kind):
            if item.writes:
                one(item)
    with ThreadPoolExecutor(max_workers=DEPLOYMENTS_IN_PARALLEL) as pool:
        list(pool.map(one, [i for i in decided.of("deployment") if i.writes]))
    return results


def outcome(prepared: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The model-deployments part of a recreate-deployments result: markdown, table rows, what changed,
    which writes failed (``errors``) and what was skipped."""
    decided: AccountPlan | None = prepared.get("plan")
    markdown, rows = report(decided, results, prepared.get("skipped"))
    errors = [f"{key}: {r['error']}" for key, r in results.items() if r.get("error")]
    return {
        "summary": summary(decided) if decided else f"skipped: {prepared.get('skipped')}",
        "skipped": prepared.get("skipped"),
        "changed": sum(1 for r in results.values() if "seconds" in r),
        "errors": errors,
        "items": rows,
        "markdown": markdown,
    }
