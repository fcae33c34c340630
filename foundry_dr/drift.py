"""Primary vs secondary settings side by side (pure), for provision-secondary, status and drills.

Drift is measured against what the plan *expects* of the secondary (the primary mapped through
``foundry_dr.secondary``), not against the primary itself: a different region, storage account
or hot-warm minimum is planned; a different VM size, SKU or network mode is drift.
"""

from __future__ import annotations

from typing import Any

from foundry_dr.plan import Plan
from foundry_dr.secondary import SYSTEM_DATASTORES, map_to_secondary, workspace_map

Key = tuple[str, str]  # (kind, name as in the secondary)

OK, PLANNED, DRIFT, MISSING, EXTRA = "same", "differs as planned", "DRIFT", "missing in secondary", "only in secondary"


def _leaf(resource_id: str | None) -> str | None:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def settings(inv: dict[str, Any], wmap: dict[str, str] | None = None,
             cmap: dict[str, str] | None = None) -> dict[Key, dict[str, Any]]:
    """Comparable settings of every resource of an inventory, keyed by (kind, secondary name).

    ``wmap``/``cmap`` rename the primary's workspaces/connections to their secondary twins so
    the two sides line up; the secondary's own inventory is passed without them.
    """
    wmap, cmap = wmap or {}, cmap or {}
    out: dict[Key, dict[str, Any]] = {}
    hub = inv.get("hub")
    if hub:
        out[("hub", wmap.get(hub["name"], hub["name"]))] = {
            "location": hub.get("location"), "sku": (hub.get("sku") or {}).get("name"),
            "identity": hub.get("identityType"), "publicNetworkAccess": hub.get("publicNetworkAccess"),
            "isolationMode": hub.get("isolationMode"), "storageAccount": _leaf(hub.get("storageAccount")),
            "keyVault": _leaf(hub.get("keyVault")), "applicationInsights": _leaf(hub.get("applicationInsights")),
            "containerRegistry": _leaf(hub.get("containerRegistry")),
        }  # fmt: skip
    for p in inv.get("projects", []):
        out[("project", wmap.get(p["name"], p["name"]))] = {
            "location": p.get("location"), "hub": _leaf(p.get("hubResourceId")),
            "sku": (p.get("sku") or {}).get("name"), "identity": p.get("identityType"),
        }
    for c in inv.get("computes", []):
        name = f"{wmap.get(c['workspace'], c['workspace'])}/{c['name']}"
        keys = ("computeType", "vmSize", "vmPriority", "minNodeCount", "maxNodeCount", "idleSeconds")
        out[("compute", name)] = {k: c.get(k) for k in keys}
    for d in inv.get("datastores", []):
        name = f"{wmap.get(d['workspace'], d['workspace'])}/{d['name']}"
        out[("datastore", name)] = {k: d.get(k) for k in
                                    ("datastoreType", "accountName", "containerName", "credentialsType")}
    for c in inv.get("connections", []):
        name = f"{wmap.get(c['workspace'], c['workspace'])}/{cmap.get(c['name'], c['name'])}"
        out[("connection", name)] = {k: c.get(k) for k in ("category", "target", "authType")}
    return out


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def drift_rows(plan: Plan, primary: dict[str, Any], secondary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (resource, setting): primary, expected secondary, actual secondary, status.

    System datastores (``workspaceblobstore``...) differ by design (each region's own account and
    container) and are compared by presence only; their rows are expected to differ.
    """
    mapping = map_to_secondary(plan, primary, secondary)
    cmap = {m.primary: m.secondary for m in plan.connections}
    wmap = workspace_map(plan)
    before = settings(primary, wmap, cmap)
    expected = settings(mapping.desired)
    actual = settings(secondary)
    # RP-made datastores exist on both sides but differ by design: expected to exist, values loose
    for key, values in before.items():
        if key[0] == "datastore" and key[1].rsplit("/", 1)[-1] in SYSTEM_DATASTORES:
            expected.setdefault(key, {k: None for k in values})
    rows = []
    for key in sorted(set(expected) | set(actual)):
        kind, name = key
        want, have, was = expected.get(key), actual.get(key), before.get(key, {})
        if have is None:
            rows.append({"resource": f"{kind} {name}", "setting": "(exists)", "primary": "yes" if was else "no",
                         "expected": "yes", "secondary": "no", "status": MISSING})
            continue
        if want is None:
            rows.append({"resource": f"{kind} {name}", "setting": "(exists)", "primary": "no", "expected": "no",
                         "secondary": "yes", "status": EXTRA})
            continue
        for setting in want:
            e, a, p = want.get(setting), have.get(setting), was.get(setting)
            if e is None or _norm(a) == _norm(e):  # nothing expected (e.g. RP-made datastore): report, never flag
                status = OK if _norm(a) == _norm(p) else PLANNED
            else:
                status = DRIFT
            rows.append({"resource": f"{kind} {name}", "setting": setting, "primary": _show(p),
                         "expected": _show(e), "secondary": _show(a), "status": status})
    return rows


def _show(value: Any) -> str:
    return "" if value is None else str(value)


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Count of rows per status."""
    out: dict[str, int] = {}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out
