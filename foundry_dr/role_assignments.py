"""Role assignments in both regions (pure): which secondary scope twins which primary scope, which
assignments the secondary needs, and what exists already.

The seed: "create role assignments for users in both regions". For every scope the plan names on
both sides (hub, projects, storage accounts, registry, vault, AI Services account) each assignment
made *at* the primary scope gets a twin at the secondary scope: same role, same principal, except
that a primary managed identity (the hub's, a project's, an endpoint's) is replaced by its secondary
counterpart. The secondary's own identities also get the grants they need to work (AcrPull,
Storage Blob Data Reader/Contributor, Key Vault Secrets User, Cognitive Services OpenAI User).

Names are deterministic (uuid5 of the secondary scope, role and principal), and presence is decided
by (scope, role, principal), the key Azure RBAC itself keeps unique: a re-run changes nothing, and
an assignment made by hand under another name counts as present.

Inputs come from an inventory read (tasks/role_assignments.py); no Azure call here.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from foundry_dr.plan import Plan
from foundry_dr.resource_ids import arm_id, workspace_id

AUTH = "Microsoft.Authorization"

# Built-in roles (learn.microsoft.com, "Azure built-in roles"): the same id in every subscription.
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
AML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
BUILTIN_NAMES = {
    OWNER: "Owner", CONTRIBUTOR: "Contributor", READER: "Reader", ACR_PULL: "AcrPull",
    BLOB_READER: "Storage Blob Data Reader", BLOB_CONTRIBUTOR: "Storage Blob Data Contributor",
    KV_SECRETS_USER: "Key Vault Secrets User", OPENAI_USER: "Cognitive Services OpenAI User",
    AML_DATA_SCIENTIST: "AzureML Data Scientist",
}  # fmt: skip

# RoleAssignmentCreateParameters.principal_type (azure-mgmt-authorization, 2022-04-01): known values
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")

# What each kind of secondary identity needs, per scope kind (learn.microsoft.com, "Manage access to
# Azure Machine Learning workspaces" and "Access Azure resources from an online endpoint with a managed
# identity": a workspace's identity reads and writes its storage, pulls from its registry, reads its
# vault; an endpoint's identity pulls the image and reads the model from storage).
IDENTITY_GRANTS: dict[str, list[tuple[str, str]]] = {
    "hub": [("registry", ACR_PULL), ("storage", BLOB_CONTRIBUTOR), ("vault", KV_SECRETS_USER),
            ("ai_services", OPENAI_USER)],
    "endpoint": [("registry", ACR_PULL), ("storage", BLOB_READER), ("vault", KV_SECRETS_USER),
                 ("ai_services", OPENAI_USER)],
}  # fmt: skip

# present: the secondary holds it; create: the runbook creates it; created: it did; pending (dry-run only):
# its scope or principal appears with the deploy; problem: not copied, ``detail`` says why
PRESENT, CREATE, CREATED, PENDING, PROBLEM = "present", "create", "created", "pending", "problem"
_NAMESPACE = uuid.UUID("5b0c1f8e-6f0e-4a55-9d43-2d7b0f8d7e21")  # foundry-dr role assignment names


def role_guid(role_definition_id: str) -> str:
    """The GUID of a role definition id, whichever form Azure gives (``/subscriptions/{s}/providers/...``
    or the tenant-level ``/providers/Microsoft.Authorization/roleDefinitions/{guid}`` of the examples)."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def role_definition_id(subscription: str, role: str) -> str:
    return f"/subscriptions/{subscription}/providers/{AUTH}/roleDefinitions/{role}"


def assignment_name(scope: str, role: str, principal: str) -> str:
    """The deterministic name of the assignment of ``role`` to ``principal`` at ``scope``."""
    return str(uuid.uuid5(_NAMESPACE, f"{scope.lower()}|{role.lower()}|{principal.lower()}"))


def copied_role_id(secondary_subscription: str, role: str) -> str:
    """The id of the secondary's copy of custom role ``role`` (deterministic, so a re-run finds it)."""
    return str(uuid.uuid5(_NAMESPACE, f"role|{secondary_subscription.lower()}|{role.lower()}"))


def _key(scope: str) -> str:
    return scope.rstrip("/").lower()


@dataclass(frozen=True)
class ScopePair:
    """A primary scope and its secondary twin. ``shared``: both sides use the same resource."""

    kind: str  # hub | project | storage | registry | vault | ai_services
    name: str  # the primary's name (a project's, an account's)
    primary: str
    secondary: str

    @property
    def shared(self) -> bool:
        return _key(self.primary) == _key(self.secondary)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" if self.kind != "hub" else f"hub {self.name}"


def scope_pairs(plan: Plan) -> tuple[list[ScopePair], list[str]]:
    """Every scope of the primary the runbook copies assignments from, with its secondary twin, and
    what cannot be paired (named, not guessed)."""
    p, s = plan.primary, plan.secondary
    problems: list[str] = []
    pairs = [ScopePair("hub", p.hub, workspace_id(plan, "primary", p.hub), workspace_id(plan, "secondary", s.hub))]
    for i, project in enumerate(p.projects):
        if i < len(s.projects):
            pairs.append(ScopePair("project", project, workspace_id(plan, "primary", project),
                                   workspace_id(plan, "secondary", s.projects[i])))  # fmt: skip
        else:
            problems.append(f"project {project}: the plan names no secondary twin")

    def storage(site: Any, account: str) -> str:
        return arm_id(site.subscription_id, site.resource_group, "Microsoft.Storage/storageAccounts", account)

    pairs.append(ScopePair("storage", p.storage_account, storage(p, p.storage_account),
                           storage(s, s.storage_account)))  # fmt: skip
    for i, account in enumerate(p.extra_storage_accounts):
        if i < len(s.extra_storage_accounts):
            pairs.append(ScopePair("storage", account, storage(p, account), storage(s, s.extra_storage_accounts[i])))
        else:
            problems.append(f"storage {account}: the plan names no secondary twin (extra_storage_accounts)")
    registry = plan.shared.container_registry
    if p.registry and s.registry:
        pairs.append(ScopePair("registry", p.registry,
                               arm_id(p.subscription_id, p.resource_group, "Microsoft.ContainerRegistry/registries",
                                      p.registry),
                               arm_id(s.subscription_id, s.resource_group, "Microsoft.ContainerRegistry/registries",
                                      s.registry)))  # fmt: skip
    elif registry is not None:
        rid = arm_id(registry.subscription_id or p.subscription_id, registry.resource_group,
                     "Microsoft.ContainerRegistry/registries", registry.name)  # fmt: skip
        pairs.append(ScopePair("registry", registry.name, rid, rid))
    vault = plan.shared.key_vault
    vid = arm_id(vault.subscription_id or p.subscription_id, vault.resource_group, "Microsoft.KeyVault/vaults",
                 vault.name)  # fmt: skip
    pairs.append(ScopePair("vault", vault.name, vid, vid))
    if p.ai_services and s.ai_services:
        pairs.append(ScopePair("ai_services", p.ai_services,
                               arm_id(p.subscription_id, p.resource_group, "Microsoft.CognitiveServices/accounts",
                                      p.ai_services),
                               arm_id(s.subscription_id, s.resource_group, "Microsoft.CognitiveServices/accounts",
                                      s.ai_services)))  # fmt: skip
    elif p.ai_services:
        problems.append(f"ai_services {p.ai_services}: the plan names no secondary AI Services account")
    return pairs, problems


@dataclass(frozen=True)
class Assignment:
    """A role assignment as read (RoleAssignment of azure-mgmt-authorization, flattened)."""

    scope: str
    role: str  # role definition GUID
    principal_id: str
    principal_type: str | None = None
    name: str = ""
    condition: str | None = None
    condition_version: str | None = None
    description: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (_key(self.scope), self.role.lower(), self.principal_id.lower())


@dataclass(frozen=True)
class Role:
    """A role definition as the inventory read it: ``available`` whether it can be assigned at the
    secondary scopes (always for built-ins; for a custom role, its assignableScopes cover them)."""

    id: str
    name: str
    custom: bool = False
    available: bool = True
    description: str = ""
    permissions: list[dict] = field(default_factory=list)
    copy_available: bool = False  # the secondary's copy (copied_role_id) exists already


@dataclass
class Twin:
    """One assignment the secondary should hold, and what the runbook does about it."""

    scope_kind: str
    scope_name: str
    scope: str  # the secondary scope
    role: str  # role GUID to assign in the secondary
    role_name: str
    principal_id: str
    principal_type: str | None
    state: str  # present | create | problem
    name: str  # the assignment name (deterministic); the existing one's when present
    source: str  # "primary <assignment name>" or "identity <which>"
    detail: str = ""
    condition: str | None = None
    condition_version: str | None = None
    description: str | None = None


@dataclass
class RoleCopy:
    """A custom role the secondary lacks, copied under a name of its own (role names are unique in a
    tenant) and assignable in the secondary's resource group."""

    source: str
    id: str
    role_name: str
    description: str
    permissions: list[dict]
    assignable_scopes: list[str]


@dataclass
class Decision:
    twins: list[Twin]
    role_copies: list[RoleCopy]
    problems: list[str]

    @property
    def creates(self) -> list[Twin]:
        return [t for t in self.twins if t.state == CREATE]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.twins:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"twins": [asdict(t) for t in self.twins], "role_copies": [asdict(c) for c in self.role_copies],
                "problems": list(self.problems), "counts": self.counts()}  # fmt: skip


def decide(
    plan: Plan,
    primary: dict[str, list[Assignment]],
    secondary: dict[str, list[Assignment]],
    roles: dict[str, Role],
    identities: dict[str, dict[str, str]],
    *,
    missing_scopes: set[str] | frozenset[str] = frozenset(),
    copy_custom_roles: bool = True,
    pending: bool = False,
) -> Decision:
    """What the secondary needs, against what it has.

    ``primary``/``secondary``: assignments read at each scope of :func:`scope_pairs` (keyed by scope
    id; those inherited from above are ignored: only assignments *at* the scope are copied).
    ``roles``: every role the primary's assignments name, by GUID. ``identities``: per side, the
    managed identities' principal ids by what they are (``hub``, ``project:<name>``,
    ``endpoint:<workspace>/<endpoint>``). ``missing_scopes``: secondary scopes that do not exist:
    their twins are problems, or ``pending`` when ``pending`` is set (a dry run before the deploy
    that creates them; so is a primary identity whose secondary twin does not exist yet).
    """
    pairs, problems = scope_pairs(plan)
    by_kind = {(p.kind, p.name.lower()): p for p in pairs}
    have: dict[tuple[str, str, str], Assignment] = {}
    for scope, items in secondary.items():
        for a in items:
            if _key(a.scope) == _key(scope):
                have[a.key] = a
    twin_of_identity = _identity_twins(identities)
    missing = {_key(s) for s in missing_scopes}
    sec_sub = plan.secondary.subscription_id
    sec_rg = f"/subscriptions/{sec_sub}/resourceGroups/{plan.secondary.resource_group}"
    twins: dict[tuple[str, str, str], Twin] = {}
    copies: dict[str, RoleCopy] = {}

    def add(pair: ScopePair, role: str, role_name: str, principal: str, ptype: str | None, source: str,
            original: Assignment | None = None, state: str | None = None, detail: str = "") -> None:
        k = (_key(pair.secondary), role.lower(), principal.lower())
        if k in twins and twins[k].state != PROBLEM:
            return  # the same grant asked twice (a primary identity's assignment and a needed grant)
        found = have.get(k)
        if state is None:
            if found is not None:
                state, name = PRESENT, found.name
                detail = detail or ("the same assignment (shared scope)" if pair.shared and original else "")
            elif _key(pair.secondary) in missing:
                state, name = (PENDING if pending else PROBLEM), assignment_name(pair.secondary, role, principal)
                detail = ("created after the deploy creates its scope" if pending
                          else f"the secondary scope {pair.secondary} does not exist")  # fmt: skip
            else:
                state, name = CREATE, assignment_name(pair.secondary, role, principal)
        else:
            name = original.name if original else ""
        twins[k] = Twin(pair.kind, pair.name, pair.secondary, role, role_name, principal, ptype, state, name, source,
                        detail, original.condition if original else None,
                        original.condition_version if original else None,
                        original.description if original else None)  # fmt: skip

    for pair in pairs:
        for a in primary.get(pair.primary, []):
            if _key(a.scope) != _key(pair.primary):
                continue  # inherited from a parent scope: not this scope's to copy
            source = f"primary {a.name}"
            role = roles.get(a.role.lower())
            role_name = role.name if role else BUILTIN_NAMES.get(a.role.lower(), a.role)
            principal = a.principal_id
            if a.principal_type not in PRINCIPAL_TYPES:
                add(pair, a.role, role_name, principal, a.principal_type, source, a, PROBLEM,
                    f"principal type {a.principal_type or 'unknown'}: the principal may have been deleted; "
                    "not copied (remove the assignment in the primary or re-create it with a known principal)")
                continue
            which = twin_of_identity.get(principal.lower())
            if which is not None:
                kind, twin = which
                if twin is None:
                    later = PENDING if pending else PROBLEM
                    add(pair, a.role, role_name, principal, a.principal_type, source, a, later,
                        f"the primary's {kind} identity has no twin in the secondary yet (not created or no "
                        "system-assigned identity); re-run once it exists")
                    continue
                principal = twin
            assign_role = a.role.lower()
            if role is not None and role.custom and not role.available and not pair.shared:
                if role.copy_available or copy_custom_roles:
                    assign_role = copied_role_id(sec_sub, role.id)
                    if not role.copy_available:
                        copies.setdefault(assign_role, RoleCopy(
                            role.id, assign_role, f"{role.name} ({plan.secondary.location})",
                            role.description or f"Copy of the custom role '{role.name}' for the DR secondary.",
                            role.permissions, [sec_rg]))  # fmt: skip
                    role_name = f"{role.name} ({plan.secondary.location})"
                else:
                    add(pair, a.role, role_name, principal, a.principal_type, source, a, PROBLEM,
                        f"custom role '{role.name}' is not assignable in the secondary (its assignableScopes do "
                        f"not cover {pair.secondary}): add the secondary to them, or copy it")
                    continue
            elif role is None:
                add(pair, a.role, role_name, principal, a.principal_type, source, a, PROBLEM,
                    f"role definition {a.role} could not be read")
                continue
            add(pair, assign_role, role_name, principal, a.principal_type, source, a)

    for side_key, principal in sorted(identities.get("secondary", {}).items()):
        kind = "hub" if side_key == "hub" else side_key.split(":", 1)[0]
        for scope_kind, role in IDENTITY_GRANTS.get(kind, []):
            targets = [p for p in pairs if p.kind == scope_kind]
            if scope_kind == "storage":  # the hub's default account (models, code, job outputs)
                targets = [t for t in [by_kind.get(("storage", plan.primary.storage_account.lower()))] if t]
            for pair in targets:
                add(pair, role, BUILTIN_NAMES[role], principal, "ServicePrincipal", f"identity {side_key}")
    ordered = sorted(twins.values(), key=lambda t: (t.scope_kind, t.scope_name, t.role_name, t.principal_id))
    return Decision(ordered, list(copies.values()), problems)


def _identity_twins(identities: dict[str, dict[str, str]]) -> dict[str, tuple[str, str | None]]:
    """Primary principal id -> (what it is, the secondary's principal id for the same thing or None)."""
    primary, secondary = identities.get("primary", {}), identities.get("secondary", {})
    return {pid.lower(): (which, secondary.get(which)) for which, pid in primary.items() if pid}


def applied(decision: Decision, created: list[str], present: list[str]) -> Decision:
    """``decision`` after an apply: the assignments it created (``created``) and those it found made
    meanwhile under another name (``present``)."""
    made, found = {n.lower() for n in created}, {n.lower() for n in present}
    for t in decision.twins:
        if t.state == CREATE and t.name.lower() in made:
            t.state, t.detail = CREATED, t.detail or t.source
        elif t.state == CREATE and t.name.lower() in found:
            t.state, t.detail = PRESENT, "created meanwhile under another name"
    return decision


def drift_rows(decision: Decision) -> list[dict[str, str]]:
    """The report's table: one row per assignment the secondary should hold."""
    return [{"scope": f"{t.scope_kind} {t.scope_name}", "role": t.role_name,
             "principal": f"{t.principal_type or '?'} {t.principal_id}", "state": t.state,
             "detail": t.detail or t.source} for t in decision.twins]  # fmt: skip


def assignment_of(doc: dict[str, Any]) -> Assignment:
    """An :class:`Assignment` from a RoleAssignment's ``as_dict()`` (flattened snake_case keys)."""
    return Assignment(
        scope=doc.get("scope") or "",
        role=role_guid(doc.get("role_definition_id") or ""),
        principal_id=doc.get("principal_id") or "",
        principal_type=doc.get("principal_type"),
        name=doc.get("name") or "",
        condition=doc.get("condition"),
        condition_version=doc.get("condition_version"),
        description=doc.get("description"),
    )
