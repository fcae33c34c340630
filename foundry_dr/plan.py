"""The DR plan: one YAML file that says what to protect, where, and how (docs/runbooks.md and README.md, "The DR plan").

Every runbook starts from a validated ``Plan``. Validation collects *every* problem, each
with its dotted path (``primary.location``, ``connections[1].secondary``), so a plan is fixed
in one pass rather than one failed run at a time. The module is pure: no Azure, no Prefect.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from foundry_dr import naming, runbooks
from foundry_dr.errors import PlanError
from foundry_dr.naming import NameRule, show
from foundry_dr.runbooks import ApprovalMode
from foundry_dr.secrets_scan import scan_tree
from foundry_dr.sides import Side

__all__ = [
    "COMPONENTS",
    "MAX_PLAN_BYTES",
    "Plan",
    "PlanError",
    "apply_overrides",
    "check_connection_mapping",
    "default_prefect_variable",
    "load_plan",
    "plan_json_schema",
    "validate_plan",
]

COMPONENTS: tuple[str, ...] = ("compute", "online_endpoints", "batch_endpoints", "schedules", "connections")
MAX_PLAN_BYTES = 1024 * 1024
SECRET_ADVICE = "secrets never go in a plan; credentials come from azure-identity (DefaultAzureCredential)"
_SKIP_CROSS_CHECKS = "foundry_dr.skip_cross_checks"


def _named(rule: NameRule) -> Any:
    """A ``str`` type checked by an Azure naming rule, with the rule's regex in the JSON schema."""

    def check(value: str) -> str:
        problem = rule.check(value)
        if problem:
            raise ValueError(problem)
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"pattern": f"^{rule.pattern}$"})]


def _region(value: str) -> str:
    problem = naming.check_region(value)
    if problem:
        raise ValueError(problem)
    return value


SubscriptionId = _named(naming.GUID)
ResourceGroupName = _named(naming.RESOURCE_GROUP)
WorkspaceName = _named(naming.WORKSPACE)
StorageAccountName = _named(naming.STORAGE_ACCOUNT)
RegistryName = _named(naming.CONTAINER_REGISTRY)
KeyVaultName = _named(naming.KEY_VAULT)
ConnectionName = _named(naming.CONNECTION)
Region = Annotated[str, AfterValidator(_region), Field(json_schema_extra={"enum": list(naming.ALL_REGIONS)})]
Minutes = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
StrategyName = Literal["hot-hot", "hot-warm", "hot-cold"]
AssetKind = Literal["models", "data", "environments", "codes", "components"]
Cloud = Literal["AzureCloud", "AzureUSGovernment", "AzureChinaCloud", "sandbox"]


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt optional field must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class Site(_Model):
    """One region's hub and the resources around it."""

    subscription_id: SubscriptionId = Field(description="Azure subscription id (GUID).")
    resource_group: ResourceGroupName = Field(description="Resource group holding the hub.")
    location: Region = Field(description="Programmatic Azure region name, e.g. eastus.")
    hub: WorkspaceName = Field(description="Name of the hub (AML workspace of kind Hub).")
    projects: list[WorkspaceName] = Field(
        default_factory=list, description="Projects of the hub to protect (same names on both sides)."
    )
    storage_account: StorageAccountName = Field(description="The hub's default storage account.")
    extra_storage_accounts: list[StorageAccountName] = Field(
        default_factory=list, description="Other accounts behind datastores (e.g. a data account)."
    )
    application_insights: _named(naming.APPLICATION_INSIGHTS) | None = Field(  # type: ignore[valid-type]
        default=None, description="Application Insights of this side's hub (one per region)."
    )
    log_analytics_workspace: _named(naming.LOG_ANALYTICS) | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Log Analytics workspace this side's Application Insights ingests into (classic, "
        "non workspace-based Application Insights is retired). Default: log-<application_insights>.",
    )
    ai_services: _named(naming.AI_SERVICES) | None = Field(  # type: ignore[valid-type]
        default=None, description="AI Services account of this region (its connection is mapped)."
    )
    registry: RegistryName | None = Field(
        default=None,
        description="This side's own ACR, when each side has one (images are imported across).",
    )

    @property
    def log_analytics(self) -> str | None:
        """The Log Analytics workspace of this side's Application Insights (None without one)."""
        if not self.application_insights:
            return None
        return self.log_analytics_workspace or f"log-{self.application_insights}"[:63].rstrip("-")


class KeyVaultRef(_Model):
    """The Key Vault both hubs share; Azure fails it over by itself."""

    name: KeyVaultName = Field(description="Key Vault name.")
    resource_group: ResourceGroupName = Field(description="Resource group of the vault.")
    subscription_id: SubscriptionId | None = Field(
        default=None, description="Subscription of the vault; defaults to the primary's."
    )


class ContainerRegistryRef(_Model):
    """The ACR both hubs share, geo-replicated to the secondary region."""

    name: RegistryName = Field(description="Registry name.")
    resource_group: ResourceGroupName = Field(description="Resource group of the registry.")
    subscription_id: SubscriptionId | None = Field(
        default=None, description="Subscription of the registry; defaults to the primary's."
    )
    sku: Literal["Basic", "Standard", "Premium"] = Field(
        default="Premium", description="Registry SKU; geo-replication needs Premium."
    )
    geo_replicated: bool = Field(
        default=True, description="Whether the registry is (to be) geo-replicated to the secondary."
    )


class Shared(_Model):
    """Resources used by both hubs."""

    key_vault: KeyVaultRef = Field(description="Shared Key Vault; also holds the active-hub pointer.")
    container_registry: ContainerRegistryRef | None = Field(
        default=None, description="Shared, geo-replicated ACR (omit when each side names its own)."
    )


class StrategyOverrides(_Model):
    """Per-component strategy, overriding the default (e.g. hot-hot endpoints, hot-cold compute)."""

    compute: StrategyName | None = None
    online_endpoints: StrategyName | None = None
    batch_endpoints: StrategyName | None = None
    schedules: StrategyName | None = None
    connections: StrategyName | None = None


class Strategy(_Model):
    """How ready the secondary is kept: hot-hot, hot-warm or hot-cold (the seed's vocabulary)."""

    default: StrategyName = Field(description="Strategy of every component not overridden.")
    overrides: StrategyOverrides = Field(default_factory=StrategyOverrides)

    def for_component(self, component: str) -> str:
        """The strategy that applies to ``component`` (one of ``COMPONENTS``)."""
        if component not in COMPONENTS:
            raise KeyError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")
        return getattr(self.overrides, component) or self.default


class ConnectionMapping(_Model):
    """A primary hub connection and its twin in the secondary region (e.g. two AI Services)."""

    primary: ConnectionName = Field(description="Connection name in the primary hub.")
    secondary: ConnectionName = Field(description="Connection name in the secondary hub.")


class Replication(_Model):
    """What replicate-artifacts copies from the primary to the secondary."""

    asset_kinds: list[AssetKind] = Field(
        default_factory=lambda: ["models", "data", "environments", "codes", "components"],
        description="Asset metadata kinds to copy (codes: the code that deployments, components and jobs run).",
    )
    containers: list[_named(naming.CONTAINER_PATTERN)] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Glob patterns of extra blob containers to copy."
    )
    exclude: list[Annotated[str, Field(min_length=1, pattern=r"^\S+$")]] = Field(
        default_factory=list, description="Glob patterns (container or container/path) never copied."
    )
    mirror_deletes: bool = Field(
        default=False, description="Delete in the secondary what was deleted in the primary."
    )
    concurrency: int = Field(default=16, ge=1, le=256, description="Parallel blob copies.")
    transfer: Literal["server-side", "streaming", "auto"] = Field(
        default="auto", description="Blob copy method; auto tries server-side, then streams."
    )


class SmokeTest(_Model):
    """The request sent to recreated deployments to prove they answer."""

    on_failure: Literal["fail", "warn"] = Field(default="fail", description="Fail the runbook, or warn.")
    sample_request: dict[str, Any] | None = Field(default=None, description="JSON body to score.")


class Deployments(_Model):
    """How recreate-deployments sizes and names deployments in the secondary."""

    standby_instance_count: int = Field(
        default=1, ge=0, description="Instances per deployment while the secondary is standby."
    )
    name_suffix: _named(naming.NAME_SUFFIX) | None = Field(  # type: ignore[valid-type]
        default=None, description="Appended to endpoint names in the secondary, if names must differ."
    )
    smoke_test: SmokeTest = Field(default_factory=SmokeTest)


# The runbooks that move production routing: the only ones a plan may give two approvers.
TWO_APPROVER_RUNBOOKS: tuple[str, ...] = ("cut-over", "fail-back")


class _ApprovalsBase(_Model):
    # Keys are runbook names; dump them that way too, so a dumped plan re-validates.
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    timeout_minutes: int = Field(
        default=60, gt=0, le=7 * 24 * 60, description="A pending approval times out (= rejected) after this."
    )
    two_approvers: list[str] = Field(
        default_factory=list,
        description="Runbooks that change production routing (cut-over, fail-back) and need a second approver, "
        "different from the first: the second approval is its own pause, after the first.",
    )

    @field_validator("two_approvers")
    @classmethod
    def _two_approver_runbooks(cls, names: list[str]) -> list[str]:
        wrong = [n for n in names if n not in TWO_APPROVER_RUNBOOKS]
        if wrong:
            raise ValueError(
                f"{', '.join(map(repr, wrong))}: only {' and '.join(TWO_APPROVER_RUNBOOKS)} can require two "
                "approvers (they move production)"
            )
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _two_approvers_need_an_approval(self) -> _ApprovalsBase:
        auto = [n for n in self.two_approvers if not self.is_required(n)]
        if auto:
            raise ValueError(
                "two_approvers lists " + ", ".join(auto) + ", whose approval is auto: a second approver needs a "
                "first; set " + ", ".join(f"approvals.{n}: required" for n in auto) + " or remove it from two_approvers"
            )
        return self

    def is_required(self, runbook: str) -> bool:
        """Whether ``runbook`` (e.g. ``cut-over``) pauses for approval."""
        return getattr(self, runbooks.get(runbook).field) == "required"

    def approvers_required(self, runbook: str) -> int:
        """How many distinct people must approve ``runbook``: 0 (auto), 1, or 2 (``two_approvers``)."""
        if not self.is_required(runbook):
            return 0
        return 2 if runbook in self.two_approvers else 1


# One field per runbook of the registry, so a new runbook cannot be forgotten here.
Approvals = create_model(
    "Approvals",
    __base__=_ApprovalsBase,
    __doc__="Which runbooks pause for a human before changing anything.",
    **{
        runbook.field: (ApprovalMode, Field(default=runbook.approval, alias=runbook.name))
        for runbook in runbooks.RUNBOOKS
    },
)


class Objectives(_Model):
    """Recovery objectives that drills measure against."""

    rpo_minutes: Minutes = Field(description="Recovery point objective: data loss tolerated, minutes.")
    rto_minutes: Minutes = Field(description="Recovery time objective: downtime tolerated, minutes.")


class Drill(_Model):
    """How dr-drill rehearses: in place, or on an isolated drill target it cleans up after itself."""

    isolated: bool = Field(
        default=False,
        description="Serve the drill from drill-suffixed copies of the secondary's online endpoints and "
        "deployments, so a secondary serving production (hot-hot) is never scaled or changed.",
    )
    suffix: _named(naming.NAME_SUFFIX) = Field(  # type: ignore[valid-type]
        default="drill", description="Appended (after a hyphen) to the names of the drill's endpoints."
    )
    max_lifetime_hours: float = Field(
        default=6, gt=0, le=168,
        description="A drill's leftovers older than this are removed by `foundry-dr drill cleanup`.",
    )  # fmt: skip
    max_age_days: float = Field(
        default=8, gt=0, le=366,
        description="The readiness check wants a passed fenced drill newer than this (the weekly drill's "
        "schedule plus a day), run with the plan as it is now.",
    )  # fmt: skip


class Pointer(_Model):
    """Where the active-hub pointer lives; clients resolve the hub from it at run time."""

    key_vault_secret: _named(naming.KEY_VAULT_SECRET) = Field(  # type: ignore[valid-type]
        default="foundry-dr-active-hub", description="Secret in the shared Key Vault."
    )
    prefect_variable: _named(naming.PREFECT_VARIABLE) | None = Field(  # type: ignore[valid-type]
        default=None, description="Prefect variable mirroring it; default foundry_dr_active_hub_<name>."
    )


class Locks(_Model):
    """The failover lock: a lease in the secondary region's storage, renewed while a runbook runs."""

    lease_seconds: int = Field(
        default=120, ge=5, le=3600,
        description="A crashed holder's lock is taken over this long after its last renewal.",
    )
    wait_seconds: int = Field(
        default=60, ge=0, le=3600, description="How long a runbook waits for a held lock before failing (exit 4)."
    )


class Failback(_Model):
    """How fail-back treats items changed on both sides during the outage."""

    conflict_policy: Literal["keep-both", "prefer-primary", "prefer-secondary"] = Field(
        default="keep-both",
        description="Which version of a blob changed on both sides stays live; the other is always kept as a "
        "conflict copy (foundry-dr/conflicts/...) and reported.",
    )
    clock_margin_seconds: float = Field(
        default=5, ge=1, le=600,
        description="Clock skew tolerated between this machine and Azure Storage (blob times have whole "
        "seconds): writes this close to a recovery point count as after it.",
    )


# ---- model deployments in the AI Services account (issue 17) --------------------------------------
AiSkuName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")]
AiName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ModelDeploymentMapping(_Model):
    """One primary deployment's model, version and SKU in the secondary, and its standby capacity."""

    deployment: AiName = Field(description="Name of the deployment in the primary AI Services account.")
    model_name: AiName | None = Field(default=None, description="Model in the secondary (default: the primary's).")
    model_version: AiName | None = Field(
        default=None, description="Model version in the secondary (default: the primary's), e.g. 2024-08-06."
    )
    sku: AiSkuName | None = Field(
        default=None, description="Deployment type in the secondary (default: the primary's), e.g. GlobalStandard."
    )
    strategy: StrategyName | None = Field(
        default=None, description="hot-hot: full capacity; hot-warm: standby_capacity; hot-cold: created at cut-over."
    )
    standby_capacity: int | None = Field(
        default=None, ge=1, description="hot-warm capacity (thousands of TPM, or PTUs) until cut-over raises it."
    )


class ModelDeployments(_Model):
    """AI Services model deployments, content filters (RAI policies) and blocklists in the secondary account."""

    enabled: bool = Field(default=True, description="Recreate the primary account's deployments in the secondary.")
    strategy: StrategyName | None = Field(
        default=None, description="Standby strategy of every deployment not mapped (default: strategy.default)."
    )
    standby_capacity: int = Field(
        default=1, ge=1, description="hot-warm capacity of a deployment whose mapping names none."
    )
    deployments: list[ModelDeploymentMapping] = Field(
        default_factory=list, description="Per deployment: model/version/SKU in the secondary and strategy."
    )

    @model_validator(mode="after")
    def _unique(self) -> ModelDeployments:
        seen: dict[str, int] = {}
        for index, mapping in enumerate(self.deployments):
            key = mapping.deployment.lower()
            if key in seen:
                raise ValueError(
                    f"deployments[{index}].deployment: duplicate deployment {mapping.deployment!r} "
                    f"(also deployments[{seen[key]}].deployment)"
                )
            seen[key] = index
        return self

    def mapping(self, deployment: str) -> ModelDeploymentMapping | None:
        """The plan's mapping of a primary deployment (names are case-insensitive), if any."""
        return next((m for m in self.deployments if m.deployment.lower() == deployment.lower()), None)


class Plan(_Model):
    """A foundry-dr disaster-recovery plan for one Azure AI Foundry hub and its projects."""

    model_config = ConfigDict(extra="forbid", title="foundry-dr plan")

    name: _named(naming.PLAN_NAME) = Field(  # type: ignore[valid-type]
        description="Plan name; used in lock, variable and report names."
    )
    cloud: Cloud = Field(description="Azure cloud, or the local sandbox.")
    primary: Site = Field(description="The production region.")
    secondary: Site = Field(description="The recovery region.")
    shared: Shared
    strategy: Strategy
    connections: list[ConnectionMapping] = Field(
        default_factory=list, description="Primary connection -> its secondary-region twin."
    )
    replication: Replication = Field(default_factory=Replication)
    deployments: Deployments = Field(default_factory=Deployments)
    model_deployments: ModelDeployments = Field(default_factory=ModelDeployments)
    approvals: Approvals = Field(default_factory=Approvals)
    objectives: Objectives
    pointer: Pointer = Field(default_factory=Pointer)
    failback: Failback = Field(default_factory=Failback)
    locks: Locks = Field(default_factory=Locks)
    drill: Drill = Field(default_factory=Drill)

    _source: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _derive_defaults(cls, data: Any, handler: Any) -> Plan:
        # Fill values derived from other fields, but remember what the user wrote, so that
        # --set name=... re-derives them instead of keeping stale ones.
        source = copy.deepcopy(data) if isinstance(data, dict) else None
        plan = handler(_with_derived_defaults(data) if isinstance(data, dict) else data)
        if source is not None:
            plan._source = source
        return plan

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Plan:
        if not (info.context or {}).get(_SKIP_CROSS_CHECKS):
            problems = _cross_checks(self.model_dump(mode="json", by_alias=True))
            if problems:
                raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        return self

    @property
    def source(self) -> dict[str, Any]:
        """The mapping this plan was validated from (before defaults), as a deep copy."""
        if self._source is not None:
            return copy.deepcopy(self._source)
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the effective plan (defaults filled, keys sorted): what a drill, a
        readiness check or an evidence bundle records, so that any edit since (even one that only
        changes a default by writing it out differently) is seen as a different plan."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def side(self, role: Side) -> Site:
        """``primary`` or ``secondary`` by name, for code that runs in either direction."""
        return {"primary": self.primary, "secondary": self.secondary}[role]

    def summary(self) -> str:
        """One line for humans: what this plan protects, where to, and how."""
        p, s = self.primary, self.secondary
        return (
            f"{self.name} ({self.cloud}): {p.location}/{p.hub} -> {s.location}/{s.hub}, "
            f"strategy {self.strategy.default}, {len(p.projects)} project(s), "
            f"{len(self.connections)} connection mapping(s), "
            f"RPO {self.objectives.rpo_minutes:g} min, RTO {self.objectives.rto_minutes:g} min"
        )


def default_prefect_variable(plan_name: str) -> str:
    """The Prefect variable holding the active hub: Prefect names allow [a-z0-9_] only."""
    return "foundry_dr_active_hub_" + plan_name.replace("-", "_")


def _with_derived_defaults(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    name = data.get("name")
    if data.get("pointer") is None:
        data["pointer"] = {}
    pointer = data["pointer"]
    if isinstance(pointer, dict) and pointer.get("prefect_variable") is None:
        if isinstance(name, str) and naming.PLAN_NAME.check(name) is None:
            pointer["prefect_variable"] = default_prefect_variable(name)
        else:
            pointer.pop("prefect_variable", None)
    primary, shared = data.get("primary"), data.get("shared")
    subscription = primary.get("subscription_id") if isinstance(primary, dict) else None
    if isinstance(shared, dict) and isinstance(subscription, str) and naming.GUID.check(subscription) is None:
        for key in ("key_vault", "container_registry"):
            ref = shared.get(key)
            if isinstance(ref, dict) and ref.get("subscription_id") is None:
                ref["subscription_id"] = subscription
    return data


def _cross_checks(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Rules spanning several fields, run on the raw mapping so they report even when other
    fields are broken. Values of the wrong type are skipped (pydantic reports those)."""
    problems: list[tuple[str, str]] = []
    sides = {
        role: data.get(role) if isinstance(data.get(role), dict) else {} for role in ("primary", "secondary")
    }
    p, s = sides["primary"], sides["secondary"]
    cloud = data.get("cloud")

    if isinstance(p.get("location"), str) and p.get("location") == s.get("location"):
        problems.append(("secondary.location", f"must differ from primary.location (both {p['location']!r})"))
    for role, side in sides.items():
        location = side.get("location")
        if isinstance(location, str) and isinstance(cloud, str):
            problem = naming.check_region_in_cloud(location, cloud)
            if problem:
                problems.append((f"{role}.location", problem))

    account = p.get("storage_account")
    if cloud != "sandbox" and isinstance(account, str) and account == s.get("storage_account"):
        problems.append(
            (
                "secondary.storage_account",
                f"must differ from primary.storage_account (both {account!r}): each region needs its own",
            )
        )
    if isinstance(p.get("hub"), str) and all(
        p.get(k) == s.get(k) for k in ("subscription_id", "resource_group", "hub")
    ):
        problems.append(("secondary.hub", "names the same hub as primary (same subscription, group, name)"))

    for role, side in sides.items():
        problems += _duplicates(side.get("projects"), f"{role}.projects", "project")
        extras = side.get("extra_storage_accounts")
        problems += _duplicates(extras, f"{role}.extra_storage_accounts", "storage account")
        if isinstance(extras, list) and side.get("storage_account") in extras:
            index = extras.index(side["storage_account"])
            problems.append(
                (f"{role}.extra_storage_accounts[{index}]", "is already the hub's storage_account")
            )

    connections = data.get("connections")
    if isinstance(connections, list):
        for key in ("primary", "secondary"):
            names = [c.get(key) if isinstance(c, dict) else None for c in connections]
            for path, message in _duplicates(names, "connections", f"{key} connection"):
                problems.append((f"{path}.{key}", message))

    shared = data.get("shared") if isinstance(data.get("shared"), dict) else {}
    acr = shared.get("container_registry")
    if isinstance(acr, dict) and acr.get("geo_replicated") is True and acr.get("sku", "Premium") != "Premium":
        problems.append(
            (
                "shared.container_registry.geo_replicated",
                f"geo-replication needs the Premium SKU (sku is {show(acr.get('sku'))})",
            )
        )
    registries = {role: side.get("registry") for role, side in sides.items()}
    if isinstance(acr, dict) and any(registries.values()):
        role = "primary" if registries["primary"] else "secondary"
        problems.append(
            (
                f"{role}.registry",
                "set either shared.container_registry or a registry on each side, not both",
            )
        )
    elif bool(registries["primary"]) != bool(registries["secondary"]):
        missing = "secondary" if registries["primary"] else "primary"
        other = "primary" if missing == "secondary" else "secondary"
        problems.append((f"{missing}.registry", f"required when {other}.registry is set (one ACR per side)"))

    replication = data.get("replication")
    if isinstance(replication, dict):
        problems += _duplicates(replication.get("asset_kinds"), "replication.asset_kinds", "asset kind")
    return problems


def _duplicates(values: Any, path: str, what: str) -> list[tuple[str, str]]:
    """``path[i]: duplicate ...`` for every repeat in a list (Azure names are case-insensitive)."""
    if not isinstance(values, list):
        return []
    seen: dict[str, int] = {}
    problems = []
    for index, value in enumerate(values):
        if not isinstance(value, str):
            continue
        key = value.lower()
        if key in seen:
            problems.append(
                (f"{path}[{index}]", f"duplicate {what} {show(value)} (also {path}[{seen[key]}])")
            )
        else:
            seen[key] = index
    return problems


# --- turning pydantic errors into "path: message" lines -------------------------------------


def _dotted(loc: Sequence[str | int]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _target(annotation: Any) -> tuple[str, Any]:
    """Classify a field's type: ("model", cls), ("list", item type), ("mapping"|"scalar", None)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _target(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _target(members[0]) if len(members) == 1 else ("scalar", None)
    if origin is list:
        return "list", get_args(annotation)[0]
    if origin is dict:
        return "mapping", None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    return "scalar", None


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Field annotations of ``model`` keyed by the name used in YAML (the alias, if any)."""
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    target: tuple[str, Any] = ("model", Plan)
    for part in loc:
        kind, inner = target
        if kind == "model" and isinstance(part, str) and part in _fields(inner):
            target = _target(_fields(inner)[part])
        elif kind == "list" and isinstance(part, int):
            target = _target(inner)
        else:
            return None
    return target[1] if target[0] == "model" else None


def _message(error: dict[str, Any]) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        model = _model_at(error["loc"][:-1])
        allowed = sorted(_fields(model)) if model else []
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        return f"unknown field ({hint})"
    return message.removeprefix("Value error, ")


# --- validating and loading -----------------------------------------------------------------


def validate_plan(data: Any, source: str | None = None) -> Plan:
    """Validate a parsed plan mapping; raise ``PlanError`` listing every problem at once."""
    if not isinstance(data, dict):
        raise PlanError([f"{source or 'plan'}: top level is {_kind(data)}, expected a mapping"])
    secrets = scan_tree(data)
    problems: list[tuple[str, str]] = []
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(data, context={_SKIP_CROSS_CHECKS: True})
    except ValidationError as exc:
        problems += [(_dotted(e["loc"]) or "plan", _message(e)) for e in exc.errors()]
    problems += _cross_checks(data)
    # A secret's own path reports only the secret: other messages there could quote the value.
    lines = [
        f"{path}: looks like a secret ({', '.join(kinds)}); {SECRET_ADVICE}"
        for path, kinds in secrets.items()
    ]
    lines += [f"{path}: {message}" for path, message in problems if path not in secrets]
    lines = list(dict.fromkeys(lines))
    if lines or plan is None:
        raise PlanError(lines or ["plan: invalid"], source)
    return plan


def _kind(value: Any) -> str:
    return {type(None): "empty", list: "a list", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


class _AnchorRefused(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__(f"line {mark.line + 1}")
        self.line = mark.line + 1


class _PlanLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases (refused before any expansion: no alias bombs)
    and without duplicate keys (which YAML would otherwise resolve silently: last one wins)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise _AnchorRefused(event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            key = (key_node.tag, str(key_node.value))
            if isinstance(key_node, yaml.ScalarNode) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """Parse plan YAML with ``_PlanLoader``; raises ``ValueError`` with a one-line reason."""
    try:
        return yaml.load(text, Loader=_PlanLoader)  # noqa: S506 - a SafeLoader subclass
    except _AnchorRefused as exc:
        raise ValueError(
            f"{exc}: YAML anchors and aliases (&name, *name) are not allowed in a plan"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ValueError(f"not valid YAML: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {str(exc).splitlines()[0]}") from None


def load_plan(path: str | Path) -> Plan:
    """Read, parse and validate a plan file; ``PlanError`` says exactly what is wrong and where."""
    path = Path(path)
    try:
        if not path.exists():
            raise PlanError([f"{path}: no such file"])
        if path.is_dir():
            raise PlanError([f"{path}: is a directory, expected a YAML plan file"])
        if not path.is_file():
            raise PlanError([f"{path}: not a regular file"])
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise PlanError([f"{path}: {size} bytes, larger than the {MAX_PLAN_BYTES} byte (1 MiB) limit"])
        with path.open("rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError([f"{path}: larger than the {MAX_PLAN_BYTES} byte (1 MiB) limit"])
    try:
        data = parse_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanError([f"{path}: not UTF-8 text"]) from None
    except ValueError as exc:
        raise PlanError([f"{path}: {exc}"]) from None
    if data is None:
        raise PlanError([f"{path}: empty file, expected a YAML mapping (a plan)"])
    if not isinstance(data, dict):
        raise PlanError([f"{path}: top level is {_kind(data)}, expected a YAML mapping (a plan)"])
    return validate_plan(data, source=str(path))


def plan_json_schema() -> dict[str, Any]:
    """JSON schema of the plan file (editors, CI linting). Cross-field rules are not in it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Plan.model_json_schema(by_alias=True),
    }


# --- live checks and overrides --------------------------------------------------------------


def check_connection_mapping(
    plan: Plan, primary_names: Sequence[str], secondary_names: Sequence[str]
) -> list[str]:
    """Problems with the plan's connection mapping given the connections that exist in each hub.

    Runbooks call this with live names: a mapping to a connection that is not there would
    leave a recreated deployment pointing at nothing after failover.
    """
    existing = {"primary": set(primary_names), "secondary": set(secondary_names)}
    problems = []
    for index, mapping in enumerate(plan.connections):
        for role in ("primary", "secondary"):
            name = getattr(mapping, role)
            if name not in existing[role]:
                problems.append(f"connections[{index}].{role}: {name!r} does not exist in the {role} hub")
    return problems


_SET_KEY = re.compile(r"[^.\[\]=\s]+(?:\[\d+\])*(?:\.[^.\[\]=\s]+(?:\[\d+\])*)*")


def apply_overrides(plan: Plan, overrides: Sequence[str]) -> Plan:
    """A new plan with ``--set a.b=value`` overrides applied (values are YAML), re-validated."""
    data = plan.source
    bad: list[str] = []
    for item in overrides:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals:
            bad.append(f"--set {item!r}: expected KEY=VALUE, e.g. replication.concurrency=8")
        elif not key:
            bad.append(f"--set {item!r}: empty key")
        elif not _SET_KEY.fullmatch(key):
            bad.append(f"--set {item!r}: malformed key {key!r} (use dotted names and [index])")
        else:
            try:
                _set_path(data, key, parse_yaml(text) if text.strip() else None)
            except ValueError as exc:
                bad.append(f"--set {item!r}: {exc}")
    if bad:
        raise PlanError(bad)
    if data.get("name") != plan.name and plan.pointer.prefect_variable == default_prefect_variable(plan.name):
        data.get("pointer", {}).pop("prefect_variable", None)  # re-derive from the new name
    return validate_plan(data, source="plan with --set overrides")


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    parts: list[str | int] = [int(i) if i else n for n, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", key)]
    target: tuple[str, Any] = ("model", Plan)
    node: Any = data
    for depth, part in enumerate(parts):
        here = _dotted(parts[: depth + 1])
        kind, inner = target
        if isinstance(part, str) and kind == "model":
            fields = _fields(inner)
            if part not in fields:
                close = difflib.get_close_matches(part, fields, n=1)
                hint = f" (did you mean {_dotted([*parts[:depth], close[0]])!r}?)" if close else ""
                raise ValueError(f"unknown setting {here!r}{hint}")
            target = _target(fields[part])
        elif isinstance(part, int) and kind == "list":
            if not isinstance(node, list) or part >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise ValueError(
                    f"{here!r}: index out of range ({_dotted(parts[:depth])} has {size} item(s))"
                )
            target = _target(inner)
        elif kind == "mapping" and isinstance(part, str):
            target = ("mapping", None)
        else:
            raise ValueError(f"unknown setting {here!r}")
        if depth == len(parts) - 1:
            node[part] = value
        elif isinstance(part, int):
            node = node[part]
        else:
            child = node.get(part)
            if not isinstance(child, dict | list):
                child = node[part] = [] if target[0] == "list" else {}
            node = child
