"""What recreate-deployments should make of each endpoint, deployment and schedule in the target.

Pure logic (no Azure, no Prefect): ``tasks/endpoints.py`` reads both workspaces as raw ARM
documents (the resource provider's own JSON) and everything that decides something happens
here, where it is unit-tested. Working on ARM documents rather than SDK entities keeps every
property the source carries (probes, request and scale settings, environment variables) and
makes "second run = zero changes" a plain comparison of two JSON trees.

Rules:
- names stay the same; endpoints get the plan's ``name_suffix`` in the secondary (and lose it
  on the way back to the primary);
- model, environment, code, compute ARM ids are remapped from the source workspace to the
  target workspace of the same name (same asset name and version); registry references stay;
- sizes: ``production`` = the source's instance count; ``standby`` per strategy (hot-hot:
  production, hot-warm: the plan's standby count, hot-cold: nothing until production is asked);
- environment variables that look like secrets are never copied in clear: they become a Key
  Vault reference to the shared vault and are reported;
- mirror traffic is off in the target; traffic is copied once all deployments are up;
- schedules are created disabled unless the strategy is hot-hot, and their enabled state is
  never changed afterwards (cut-over and fail-back own it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from foundry_dr.secrets_scan import find_secrets

__all__ = [
    "ML_API_VERSION",
    "PRODUCTION_TAG",
    "Action",
    "Context",
    "EndpointPlan",
    "Item",
    "WorkspacePlan",
    "diff",
    "endpoint_name",
    "instance_count",
    "needs_source_for_scaling",
    "production_count",
    "plan_workspace",
    "remap_ids",
    "required_references",
    "scale_workspace",
    "secret_env_vars",
]

ML_API_VERSION = "2024-04-01"
# Tag on each recreated deployment: its production instance count.
PRODUCTION_TAG = "foundry-dr.production-instances"
Sizing = Literal["standby", "production"]
Action = Literal["create", "update", "unchanged", "deferred", "missing", "conflict", "invalid", "blocked"]

# Properties the RP computes or owns: never sent back.
_READ_ONLY = {"provisioningState", "scoringUri", "swaggerUri"}
# Properties an existing resource cannot change (the RP refuses): a difference is a conflict.
_IMMUTABLE = {"online-endpoint": ("authMode",), "online-deployment": ("instanceType", "endpointComputeType")}
_ARM_WS = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/\s\"']+",
    re.IGNORECASE,
)
# References whose target must exist before a deployment can be provisioned.
_REFERENCE = re.compile(
    r"^(?P<ws>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/"
    r"[^/]+)/(?P<kind>models|environments|codes|components|data|computes)/(?P<rest>[^\s\"']+)$",
    re.IGNORECASE,
)
# A variable is secret when its last word says so (GITHUB_TOKEN, API_KEY, STORAGE_SAS) or any word is
# unambiguous (DB_PASSWORD_FILE); KEY_VAULT_NAME or TOKEN_URL are not.
_SECRET_LAST_WORDS = {"KEY", "APIKEY", "SECRET", "TOKEN", "SAS", "PASSWORD", "PASSWD", "PWD", "CREDENTIAL",
                      "CREDENTIALS", "CONNECTIONSTRING"}  # fmt: skip
_SECRET_ANY_WORDS = {"PASSWORD", "PASSWD", "SECRET", "APIKEY", "CONNECTIONSTRING", "CREDENTIALS"}
_ALREADY_REFERENCE = re.compile(r"^\s*(\$\{\{.*\}\}|@Microsoft\.KeyVault\(.*\))\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Context:
    """Where the target is and how to translate names into it.

    ``workspaces`` maps each source workspace ARM id (any case) to the target workspace ARM id.
    ``to_secondary`` says which way the suffix goes. ``vault_uri`` is the shared Key Vault's URI
    (``https://kv.vault.azure.net``) that secret environment variables are referenced in.
    """

    workspaces: Mapping[str, str]
    location: str
    vault_uri: str
    name_suffix: str | None = None
    to_secondary: bool = True
    standby_count: int = 1
    strategies: Mapping[str, str] = field(default_factory=dict)  # component -> strategy
    sizing: Sizing = "standby"

    def target_workspace(self, source_ws_id: str) -> str:
        for src, dst in self.workspaces.items():
            if src.lower() == source_ws_id.lower():
                return dst
        return source_ws_id

    def strategy(self, component: str) -> str:
        return self.strategies.get(component, "hot-warm")


@dataclass
class Item:
    """One resource (or one traffic update) and what the run does with it."""

    kind: Literal["online-endpoint", "online-deployment", "traffic", "batch-endpoint", "batch-deployment",
                  "batch-defaults", "schedule"]  # fmt: skip
    workspace: str
    name: str
    resource_id: str
    action: Action
    body: dict[str, Any] | None = None
    changes: list[str] = field(default_factory=list)
    remapped: list[tuple[str, str]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    size: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    instances: tuple[int, int] | None = None  # online deployments: (now in the target, after the run)

    @property
    def key(self) -> str:
        """Unique within a workspace: ``traffic:ep`` and ``online-endpoint:ep`` are two writes."""
        return f"{self.kind}:{self.name}"

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update")

    def row(self) -> dict[str, Any]:
        """One line of the report table."""
        return {
            "kind": self.kind, "workspace": self.workspace, "name": self.name, "action": self.action,
            "changes": ", ".join(self.changes), "remapped": len(self.remapped),
            "size": " -> ".join(str(v) for v in self.size.values()) if self.size else "",
            "secrets referenced": ", ".join(self.secrets), "note": self.reason,
        }  # fmt: skip


@dataclass
class EndpointPlan:
    """An endpoint, its deployments, and the update that sets its traffic (or defaults) last."""

    endpoint: Item
    deployments: list[Item]
    finish: Item | None  # traffic (online) or default deployment (batch)

    def items(self) -> list[Item]:
        return [self.endpoint, *self.deployments, *([self.finish] if self.finish else [])]


@dataclass
class WorkspacePlan:
    """Everything planned in one target workspace."""

    workspace: str
    online: list[EndpointPlan] = field(default_factory=list)
    batch: list[EndpointPlan] = field(default_factory=list)
    schedules: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        out: list[Item] = []
        for group in (*self.online, *self.batch):
            out += group.items()
        return out + self.schedules


# ---- names, ids and sizes -------------------------------------------------------------------
def endpoint_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid endpoint name (:data:`foundry_dr.naming.ENDPOINT`, the rule
    azure-ai-ml checks); the suffix the plan adds counts."""
    from foundry_dr.naming import ENDPOINT

    problem = ENDPOINT.check(name)
    return f"{problem} ({len(name)} characters)" if problem else None


def endpoint_name(name: str, ctx: Context) -> str:
    """The endpoint's name in the target: suffixed going to the secondary, unsuffixed coming back."""
    suffix = ctx.name_suffix
    if not suffix:
        return name
    if ctx.to_secondary:
        return name if name.endswith(suffix) else name + suffix
    return name[: -len(suffix)] if name.endswith(suffix) else name


def remap_ids(tree: Any, ctx: Context) -> tuple[Any, list[tuple[str, str]]]:
    """``tree`` with every source-workspace ARM id rewritten to the target's; and what changed."""
    changed: list[tuple[str, str]] = []

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            new = _ARM_WS.sub(lambda m: ctx.target_workspace(m.group(0)), node)
            if new != node:
                changed.append((node, new))
            return new
        return node

    return walk(tree), changed


def required_references(tree: Any) -> set[str]:
    """ARM ids of assets and computes (``.../models/m/versions/3``, ``.../computes/c``) in ``tree``."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            ref = node.removeprefix("azureml:")
            if _REFERENCE.match(ref):
                found.add(ref)

    walk(tree)
    return found


def instance_count(source_count: int, sizing: Sizing, strategy: str, standby_count: int) -> int | None:
    """Instances of a deployment in the target; None means "do not create it yet" (hot-cold)."""
    if sizing == "production" or strategy == "hot-hot":
        return source_count
    if strategy == "hot-warm":
        return standby_count
    return None


def _is_secret_name(name: str) -> bool:
    words = [w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", name) if w]
    upper = [w.upper() for w in words]
    joined = "".join(upper)
    if not upper:
        return False
    return (upper[-1] in _SECRET_LAST_WORDS or bool(set(upper) & _SECRET_ANY_WORDS)
            or any(joined.endswith(w) for w in ("APIKEY", "CONNECTIONSTRING")))  # fmt: skip


def secret_env_vars(env: Mapping[str, Any]) -> list[str]:
    """Names of environment variables whose name or value looks like a secret (not yet a reference)."""
    out = []
    for name, value in env.items():
        text = "" if value is None else str(value)
        if _ALREADY_REFERENCE.match(text):
            continue
        if _is_secret_name(name) or find_secrets(text) or find_secrets(f"{name}={text}"):
            out.append(name)
    return out


def secret_name(*parts: str) -> str:
    """A Key Vault secret name (``[0-9a-zA-Z-]``, at most 127) for one environment variable."""
    return re.sub(r"[^0-9a-zA-Z-]+", "-", "-".join(["foundry-dr", *parts])).strip("-").lower()[:127]


def _vault_reference(ctx: Context, name: str) -> str:
    # azureml online deployments resolve ${{keyvault:...}} at start-up (secret injection).
    return "${{keyvault:" + ctx.vault_uri.rstrip("/") + f"/secrets/{name}" + "}}"


# ---- desired documents ------------------------------------------------------------------------
def _strip(props: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in props.items() if k not in _READ_ONLY}
    inner = out.get("properties")
    if isinstance(inner, dict):  # RP-owned markers such as azureml.onlineendpointid
        out["properties"] = {k: v for k, v in inner.items() if not k.lower().startswith("azureml.")}
    return out


def _identity(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    identity = doc.get("identity")
    if not isinstance(identity, dict) or not identity.get("type"):
        return None
    return {"type": identity["type"]}


def _tracked(doc: Mapping[str, Any], ctx: Context, props: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"location": ctx.location, "tags": dict(doc.get("tags") or {}), "properties": props}
    if doc.get("kind"):
        body["kind"] = doc["kind"]
    identity = _identity(doc)
    if identity:
        body["identity"] = identity
    return body


def _workspace_of(resource_id: str) -> str:
    match = _ARM_WS.search(resource_id)
    if not match:
        raise ValueError(f"not an id inside an Azure ML workspace: {resource_id}")
    return match.group(0)


def _target_id(ctx: Context, source_id: str, endpoint: str | None = None) -> str:
    ws = _workspace_of(source_id)
    tail = source_id[len(ws) :]
    if endpoint is not None:  # .../onlineEndpoints/<name>[/deployments/<d>]
        parts = tail.split("/")
        parts[2] = endpoint
        tail = "/".join(parts)
    return ctx.target_workspace(ws) + tail


# ---- diff -------------------------------------------------------------------------------------
def _differs(want: Any, have: Any) -> bool:
    """Whether ``have`` lacks something of ``want`` (keys the RP adds to ``have`` are ignored)."""
    if isinstance(want, dict) and isinstance(have, dict):
        return any(_differs(v, have.get(k)) for k, v in want.items())
    if isinstance(want, dict) and have is None:
        return any(v not in (None, {}, []) for v in want.values())
    if isinstance(want, str) and isinstance(have, str) and want.startswith("/subscriptions/"):
        return want.lower() != have.lower()  # ARM ids are case-insensitive
    return want != have


def diff(desired: Mapping[str, Any], current: Mapping[str, Any] | None, ignore: Iterable[str] = ()) -> list[str]:
    """Dotted paths (``properties.traffic``, ``sku.capacity``, ``tags``) where ``current`` differs."""
    if current is None:
        return ["(new)"]
    skip = set(ignore)
    changes = []
    for key, want in desired.items():
        if key in ("location", "identity") or key in skip:
            continue
        have = current.get(key)
        if key in ("properties", "sku") and isinstance(want, dict):
            changes += [f"{key}.{k}" for k, v in want.items()
                        if f"{key}.{k}" not in skip and _differs(v, (have or {}).get(k))]  # fmt: skip
        elif key == "tags":
            if dict(want or {}) != dict(have or {}):
                changes.append("tags")
        elif _differs(want, have):
            changes.append(key)
    return changes


def _decide(kind: str, desired: dict[str, Any], current: dict[str, Any] | None,
            ignore: Iterable[str] = ()) -> tuple[Action, list[str], str]:  # fmt: skip
    changes = diff(desired, current, ignore)
    if current is None:
        return "create", [], ""
    for prop in _IMMUTABLE.get(kind, ()):
        want, have = desired["properties"].get(prop), (current.get("properties") or {}).get(prop)
        if want and have and str(want).lower() != str(have).lower():
            return (
                "conflict",
                [f"properties.{prop}"],
                (
                    f"{prop} is {have!r} in the target but {want!r} in the source and cannot be changed: "
                    "delete the target resource and re-run"
                ),
            )
    return ("update" if changes else "unchanged"), changes, ""


# ---- planning ---------------------------------------------------------------------------------
def _online_deployment(src: dict[str, Any], ctx: Context, endpoint: str, current: dict | None,
                       workspace: str) -> Item:  # fmt: skip
    strategy = ctx.strategy("online_endpoints")
    source_count = production_count(src)
    count = instance_count(source_count, ctx.sizing, strategy, ctx.standby_count)
    name = f"{endpoint}/{src['name']}"
    rid = _target_id(ctx, src["id"], endpoint)
    size = {"source": source_count, "target": count if count is not None else "none"}
    if count is None:
        return Item("online-deployment", workspace, name, rid, "deferred", size=size,
                    reason=f"{strategy}: created when production sizing is asked (cut-over)")  # fmt: skip
    props, remapped = remap_ids(_strip(src.get("properties") or {}), ctx)
    env = dict(props.get("environmentVariables") or {})
    secrets = secret_env_vars(env)
    for var in secrets:
        env[var] = _vault_reference(ctx, secret_name(endpoint, src["name"], var))
    if secrets:
        props["environmentVariables"] = env
    body = _tracked(src, ctx, props)
    body["tags"][PRODUCTION_TAG] = str(source_count)  # lets scale-only work while the source is down
    body["sku"] = {**{k: v for k, v in (src.get("sku") or {}).items() if v is not None}, "capacity": count}
    action, changes, reason = _decide("online-deployment", body, current)
    now = int(((current or {}).get("sku") or {}).get("capacity") or 0) if current else 0
    return Item("online-deployment", workspace, name, rid, action, body, changes, remapped, secrets, size, reason,
                instances=(now, count))


def _online(src: dict[str, Any], deployments: list[dict], target: dict[str, Any] | None,
            target_deployments: Mapping[str, dict], ctx: Context, workspace: str) -> EndpointPlan:  # fmt: skip
    name = endpoint_name(src["name"], ctx)
    rid = _target_id(ctx, src["id"], name)
    strategy = ctx.strategy("online_endpoints")
    if problem := endpoint_name_problem(name):
        return EndpointPlan(Item("online-endpoint", workspace, name, rid, "invalid", reason=problem), [], None)
    if instance_count(1, ctx.sizing, strategy, ctx.standby_count) is None:
        reason = f"{strategy}: created when production sizing is asked (cut-over)"
        ep = Item("online-endpoint", workspace, name, rid, "deferred", reason=reason)
        deps = [_online_deployment(d, ctx, name, None, workspace) for d in deployments]
        return EndpointPlan(ep, deps, None)
    props, remapped = remap_ids(_strip(src.get("properties") or {}), ctx)
    source_traffic = dict(props.pop("traffic", None) or {})
    props["mirrorTraffic"] = {}  # never mirror production traffic into the standby region
    current_traffic = ((target or {}).get("properties") or {}).get("traffic") or {}
    props["traffic"] = dict(current_traffic)  # traffic moves last, once deployments are up
    body = _tracked(src, ctx, props)
    action, changes, reason = _decide("online-endpoint", body, target, ignore=["properties.traffic"])
    ep = Item("online-endpoint", workspace, name, rid, action, body, changes, remapped, reason=reason)
    deps = [_online_deployment(d, ctx, name, target_deployments.get(d["name"].lower()), workspace)
            for d in deployments]  # fmt: skip
    traffic_body = copy.deepcopy(body)
    traffic_body["properties"]["traffic"] = source_traffic
    t_action: Action = "unchanged"
    t_changes: list[str] = []
    if {k.lower(): v for k, v in source_traffic.items()} != {k.lower(): v for k, v in current_traffic.items()}:
        t_action, t_changes = "update", ["properties.traffic"]
    traffic = Item("traffic", workspace, name, rid, t_action, traffic_body, t_changes,
                   size={"source": _split(source_traffic), "target": _split(current_traffic)})  # fmt: skip
    return EndpointPlan(ep, deps, traffic)


def _split(traffic: Mapping[str, int]) -> str:
    return "/".join(f"{k}:{v}" for k, v in sorted(traffic.items())) or "none"


def _batch(src: dict[str, Any], deployments: list[dict], target: dict[str, Any] | None,
           target_deployments: Mapping[str, dict], ctx: Context, workspace: str) -> EndpointPlan:  # fmt: skip
    name = src["name"]
    rid = _target_id(ctx, src["id"])
    strategy = ctx.strategy("batch_endpoints")
    if ctx.sizing == "standby" and strategy == "hot-cold":
        reason = "hot-cold: created when production sizing is asked (cut-over)"
        deferred = [Item("batch-deployment", workspace, f"{name}/{d['name']}", _target_id(ctx, d["id"]), "deferred",
                         reason=reason) for d in deployments]  # fmt: skip
        return EndpointPlan(Item("batch-endpoint", workspace, name, rid, "deferred", reason=reason), deferred, None)
    props, remapped = remap_ids(_strip(src.get("properties") or {}), ctx)
    default = (props.get("defaults") or {}).get("deploymentName")
    current_default = (((target or {}).get("properties") or {}).get("defaults") or {}).get("deploymentName")
    props["defaults"] = {"deploymentName": current_default}  # set last, once the deployment exists
    body = _tracked(src, ctx, props)
    action, changes, reason = _decide("batch-endpoint", body, target)
    ep = Item("batch-endpoint", workspace, name, rid, action, body, changes, remapped, reason=reason)
    deps = []
    for d in deployments:
        d_props, d_remapped = remap_ids(_strip(d.get("properties") or {}), ctx)
        d_body = _tracked(d, ctx, d_props)
        if d.get("sku"):
            d_body["sku"] = {k: v for k, v in d["sku"].items() if v is not None}
        current = target_deployments.get(d["name"].lower())
        d_action, d_changes, d_reason = _decide("batch-deployment", d_body, current)
        deps.append(Item("batch-deployment", workspace, f"{name}/{d['name']}", _target_id(ctx, d["id"]), d_action,
                         d_body, d_changes, d_remapped, reason=d_reason))  # fmt: skip
    finish = None
    if default:
        f_body = copy.deepcopy(body)
        f_body["properties"]["defaults"] = {"deploymentName": default}
        same = str(default).lower() == str(current_default or "").lower()
        finish = Item("batch-defaults", workspace, name, rid, "unchanged" if same else "update", f_body,
                      [] if same else ["properties.defaults"])  # fmt: skip
    return EndpointPlan(ep, deps, finish)


def _schedule(src: dict[str, Any], target: dict[str, Any] | None, ctx: Context, workspace: str) -> Item:
    strategy = ctx.strategy("schedules")
    props, remapped = remap_ids(_strip(src.get("properties") or {}), ctx)
    if target is None:
        # hot-warm/hot-cold: created disabled so that jobs never run in both regions; cut-over enables.
        props["isEnabled"] = bool(props.get("isEnabled", True)) and strategy == "hot-hot"
    else:
        props["isEnabled"] = (target.get("properties") or {}).get("isEnabled")  # owned by cut-over/fail-back
    body = {"properties": props}
    action, changes, reason = _decide("schedule", body, target)
    state = "enabled" if props["isEnabled"] else "disabled"
    return Item("schedule", workspace, src["name"], _target_id(ctx, src["id"]), action, body, changes, remapped,
                size={"state": state}, reason=reason)  # fmt: skip


def plan_workspace(source: Mapping[str, Any], target: Mapping[str, Any], ctx: Context) -> WorkspacePlan:
    """Desired state of one target workspace from one source workspace inventory, diffed.

    Inventories are ``{"name", "online": [{"doc", "deployments": [doc]}], "batch": [...],
    "schedules": [doc]}`` of raw ARM documents (see ``tasks/endpoints.read_workspace``).
    """
    plan = WorkspacePlan(target["name"])
    t_online = {e["doc"]["name"].lower(): e for e in target.get("online", [])}
    for entry in source.get("online", []):
        have = t_online.get(endpoint_name(entry["doc"]["name"], ctx).lower())
        have_deps = {d["name"].lower(): d for d in (have or {}).get("deployments", [])}
        plan.online.append(_online(entry["doc"], entry["deployments"], (have or {}).get("doc"), have_deps, ctx,
                                   plan.workspace))  # fmt: skip
    t_batch = {e["doc"]["name"].lower(): e for e in target.get("batch", [])}
    for entry in source.get("batch", []):
        have = t_batch.get(entry["doc"]["name"].lower())
        have_deps = {d["name"].lower(): d for d in (have or {}).get("deployments", [])}
        plan.batch.append(_batch(entry["doc"], entry["deployments"], (have or {}).get("doc"), have_deps, ctx,
                                 plan.workspace))  # fmt: skip
    t_sched = {s["name"].lower(): s for s in target.get("schedules", [])}
    for doc in source.get("schedules", []):
        plan.schedules.append(_schedule(doc, t_sched.get(doc["name"].lower()), ctx, plan.workspace))
    return plan


def production_count(doc: Mapping[str, Any]) -> int:
    """A deployment's production size: its ``PRODUCTION_TAG`` (set by recreate-deployments, so a target
    deployment remembers it while the source region is down), else its current instance count."""
    tag = (doc.get("tags") or {}).get(PRODUCTION_TAG)
    if tag is not None and str(tag).isdigit():
        return int(tag)
    return int((doc.get("sku") or {}).get("capacity") or 1)


def needs_source_for_scaling(target: Mapping[str, Any]) -> bool:
    """Whether scale-only must read the source: some target deployment does not carry its production size."""
    return any(
        PRODUCTION_TAG not in (d.get("tags") or {}) for e in target.get("online", []) for d in e["deployments"]
    ) or not target.get("online")


def scale_workspace(source: Mapping[str, Any] | None, target: Mapping[str, Any], ctx: Context) -> WorkspacePlan:
    """Scale-only: every target online deployment gets its size for ``ctx.sizing``; nothing else moves.

    Works from the target alone when its deployments carry ``PRODUCTION_TAG`` (the source region may
    be down during a cut-over); ``source`` (None if unread) fills the gaps and reveals deployments
    missing in the target (``missing``: scale-only never creates). The body is the target's own
    document with only ``sku.capacity`` changed; hot-cold standby is left as it is.
    """
    plan = WorkspacePlan(target["name"])
    strategy = ctx.strategy("online_endpoints")
    src_online = {endpoint_name(e["doc"]["name"], ctx).lower(): e for e in (source or {}).get("online", [])}
    endpoints = [(e["doc"]["name"], e["doc"]["id"], e) for e in target.get("online", [])]
    have_names = {n.lower() for n, _, _ in endpoints}
    endpoints += [(endpoint_name(e["doc"]["name"], ctx), _target_id(ctx, e["doc"]["id"], endpoint_name(
        e["doc"]["name"], ctx)), None) for k, e in src_online.items() if k not in have_names]  # fmt: skip
    for name, rid, have in endpoints:
        src = src_online.get(name.lower())
        src_deps = {d["name"].lower(): d for d in (src or {}).get("deployments", [])}
        have_deps = {d["name"].lower(): d for d in (have or {}).get("deployments", [])}
        ep = Item("online-endpoint", plan.workspace, name, rid, "unchanged" if have else "missing")
        deps = []
        for key in [*have_deps, *(k for k in src_deps if k not in have_deps)]:
            current, origin = have_deps.get(key), src_deps.get(key)
            dname = f"{name}/{(current or origin)['name']}"
            drid = f"{rid}/deployments/{(current or origin)['name']}"
            current_count = ((current or {}).get("sku") or {}).get("capacity")
            if current is None:
                deps.append(Item("online-deployment", plan.workspace, dname, drid, "missing",
                                 reason="not in the target: run recreate-deployments without scale_only"))  # fmt: skip
                continue
            if PRODUCTION_TAG in (current.get("tags") or {}):
                prod: int | None = production_count(current)
            else:
                prod = production_count(origin) if origin else None
            count = None if prod is None else instance_count(prod, ctx.sizing, strategy, ctx.standby_count)
            size = {"from": current_count, "to": count if count is not None else "unchanged"}
            if count is None:
                why = "production size unknown (no tag, no source)" if prod is None else f"{strategy} standby"
                deps.append(Item("online-deployment", plan.workspace, dname, drid, "unchanged", size=size,
                                 reason=f"{why}: size kept"))  # fmt: skip
                continue
            body = {
                k: copy.deepcopy(current[k]) for k in ("location", "kind", "tags", "sku") if current.get(k) is not None
            }
            body["properties"] = _strip(current.get("properties") or {})
            body["sku"] = {**{k: v for k, v in (current.get("sku") or {}).items() if v is not None}, "capacity": count}
            if _identity(current):
                body["identity"] = _identity(current)
            changed = current_count != count
            deps.append(Item("online-deployment", plan.workspace, dname, drid, "update" if changed else "unchanged",
                             body, ["sku.capacity"] if changed else [], size=size,
                             instances=(int(current_count or 0), count)))  # fmt: skip
        plan.online.append(EndpointPlan(ep, deps, None))
    return plan


def online_growth(items: list[Item]) -> list[tuple[str, str, int, int]]:
    """(deployment, instance type, instances now, instances after) of every managed online
    deployment the run creates or grows: what its quota check must cover."""
    out = []
    for i in items:
        if i.kind != "online-deployment" or not i.writes or i.instances is None or i.body is None:
            continue
        props = i.body.get("properties") or {}
        if str(props.get("endpointComputeType") or "Managed").lower() != "managed":
            continue
        now, after = i.instances
        if after > now and props.get("instanceType"):
            out.append((f"{i.workspace}/{i.name}", str(props["instanceType"]), now, after))
    return out


def block_on_missing_computes(plans: list[WorkspacePlan], missing: set[str]) -> list[Item]:
    """Mark the writes that need a compute the target lacks as ``blocked`` (with the reason), and
    a batch endpoint's default when it names a blocked deployment; everything else still runs.
    A batch deployment on a compute the strategy creates later (compute hot-cold, batch hot-warm)
    is one item that can't be made yet, not a reason to stop the hot-hot online endpoints."""
    lowered = {m.lower() for m in missing}
    blocked: list[Item] = []
    def block(item: Item) -> bool:
        needs = sorted(r for r in required_references(item.body or {}) if r.lower() in lowered)
        if item.writes and needs:
            item.action = "blocked"
            item.reason = (f"compute {needs[0].rsplit('/', 1)[-1]} does not exist in the target (the compute "
                           "strategy creates it later, e.g. hot-cold at cut-over); re-run once it exists")
            blocked.append(item)
        return item.action == "blocked"

    for plan in plans:
        for schedule in plan.schedules:
            block(schedule)
        for group in plan.batch:
            names = {item.name.rsplit("/", 1)[-1].lower() for item in group.deployments if block(item)}
            finish = group.finish
            if finish is not None and finish.writes:
                default = str(((finish.body or {}).get("properties") or {}).get("defaults", {}).get("deploymentName"))
                if default.lower() in names:
                    finish.action = "blocked"
                    finish.reason = f"its default deployment {default} is blocked"
                    blocked.append(finish)
    return blocked
