"""What-if: what a template deployment would change, without changing anything.

The paths the template sets are compared with the stored resource; what the RP adds is noise
of the two kinds ARM's what-if shows (its docs, "ARM template deployment what-if operation",
and its tracker, Azure/arm-template-whatif): a read-only property the template sets is
``NoEffect``, and a property the RP defaulted that the template leaves out is a ``Delete``
(:func:`defaulted`; for the types whose REST model the sandbox holds, which tells read-only
properties apart). Ids, systemData and provisioningState are never reported. Location names and
resource ids compare case-insensitively (ARM treats them so).
"""

from __future__ import annotations

import copy

from foundry_dr_sandbox.arm.core.contract import readonly_paths
from foundry_dr_sandbox.arm.core.engine import Engine, normalize_location
from foundry_dr_sandbox.arm.core.ids import key
from foundry_dr_sandbox.arm.providers.resources.templates import Planned


def _same(path: str, desired: object, actual: object) -> bool:
    if isinstance(desired, str) and isinstance(actual, str):
        if path == "location":
            return normalize_location(desired) == normalize_location(actual)
        if desired.startswith("/subscriptions/"):
            return key(desired) == key(actual)
    return desired == actual


def diff(desired: dict, actual: dict, prefix: str = "", readonly: frozenset[str] = frozenset()) -> list[dict]:
    """WhatIfPropertyChange entries for every path the template sets that differs. A path the
    REST model marks read-only is ``NoEffect`` (the RP ignores it), as ARM's what-if reports it
    (PropertyChangeType in Microsoft.Resources' deployments spec: "The property will not be set
    or updated") -- the noise a real what-if shows on templates that carry such properties."""
    out: list[dict] = []
    for k, want in desired.items():
        path = f"{prefix}.{k}" if prefix else k
        if path in readonly:
            have = actual.get(k)
            if not _same(path, want, have):
                out.append({"path": path, "propertyChangeType": "NoEffect", "before": have, "after": want})
            continue
        if k not in actual or actual[k] is None:
            if want is not None:
                out.append({"path": path, "propertyChangeType": "Create", "after": want})
            continue
        have = actual[k]
        if isinstance(want, dict) and isinstance(have, dict):
            out.extend(diff(want, have, path, readonly))
        elif not _same(path, want, have):
            out.append({"path": path, "propertyChangeType": "Modify", "before": have, "after": want})
    return out


# Where an RP's defaults live: what-if compares these subtrees of the resource with the template.
_DEFAULTED_ROOTS = ("properties", "sku")


def defaulted(desired: dict, actual: dict, prefix: str = "", readonly: frozenset[str] = frozenset()) -> list[dict]:
    """``Delete`` entries for what the RP set and returns that the template leaves out -- the
    noise ARM's what-if reports on a no-op redeploy ("Resource-provider default properties:
    values the RP sets and returns but that aren't in your template, so they show as
    adds/removes even on a no-op deploy", the ARM Deployments team in Azure/arm-template-whatif#157;
    e.g. #275: ``- properties.dataEndpointEnabled``, ``- properties.encryption`` on an unchanged
    registry). Read-only properties are not reported (ARM knows them from the spec) and arrays the
    template sets are compared by :func:`diff`, not here."""
    out: list[dict] = []
    for k, have in actual.items():
        path = f"{prefix}.{k}" if prefix else k
        if (not prefix and k not in _DEFAULTED_ROOTS) or path in readonly or have is None:
            continue
        if k == "provisioningState":  # read-only in every RP's spec, modelled or not
            continue
        if k not in desired:
            out.append({"path": path, "propertyChangeType": "Delete", "before": have})
        elif isinstance(desired[k], dict) and isinstance(have, dict):
            out.extend(defaulted(desired[k], have, path, readonly))
    return out


def _merge(base: dict, overlay: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in overlay.items():
        out[k] = (
            _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
        )
    return out


def _change(
    resource_id: str,
    change_type: str,
    before: dict | None,
    after: dict | None,
    delta: list[dict] | None = None,
) -> dict:
    change: dict = {"resourceId": resource_id, "changeType": change_type, "before": before, "after": after}
    if delta is not None:
        change["delta"] = delta
    return change


def changes(engine: Engine, planned: list[Planned], mode: str, rg_id: str) -> list[dict]:
    """One WhatIfChange per template resource, plus Ignore/Delete for the rest of the group."""
    out: list[dict] = []
    seen: set[str] = set()
    for p in planned:
        seen.add(key(p.resource_id))
        header = {
            "id": p.resource_id,
            "name": p.name.split("/")[-1],
            "type": p.full_type,
            "apiVersion": p.api_version,
        }
        found = engine.load(p.resource_id)
        if found is None:
            out.append(_change(p.resource_id, "Create", None, {**header, **copy.deepcopy(p.body)}))
            continue
        before = engine.type_of(found.doc.get("type", "")).view(engine, found.doc, found.meta)
        before = {**header, **{k: v for k, v in before.items() if k not in ("id", "name", "type")}}
        model = engine.type_of(p.full_type).model_for(p.api_version)  # the model of the version named
        readonly = frozenset(readonly_paths(model))
        delta = diff(p.body, before, readonly=readonly)
        if model is not None:  # a type whose spec the sandbox holds: it knows what is read-only
            delta += defaulted(p.body, before, readonly=readonly)
        after = _merge(before, p.body)
        out.append(_change(found.doc["id"], "Modify" if delta else "NoChange", before, after, delta))
    # Resources of the group the template does not mention: kept (Incremental) or deleted (Complete).
    for doc, meta in engine.store.children(rg_id):
        if doc.get("type", "").lower() == "microsoft.resources/deployments" or key(doc["id"]) in seen:
            continue
        view = engine.type_of(doc.get("type", "")).view(engine, doc, meta)
        if mode.lower() == "complete":
            out.append(_change(doc["id"], "Delete", view, None))
        else:
            out.append(_change(doc["id"], "Ignore", view, None))
    return out
