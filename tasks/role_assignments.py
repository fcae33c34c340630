"""Prefect tasks of role assignments in both regions (azure-mgmt-authorization).

- :func:`inventory_role_assignments` reads, for every scope pair of
  :func:`foundry_dr.role_assignments.scope_pairs`, the assignments at the primary and the secondary
  scope (``list_for_scope(..., filter="atScope()")``), the role definitions they name (and whether
  they can be assigned in the secondary), whether each secondary scope exists, and the managed
  identities' principal ids on both sides (hub, projects, online endpoints). Read-only.
- :func:`apply_role_assignments` creates what :func:`foundry_dr.role_assignments.decide` says is
  missing: custom-role copies first, then the assignments, under their deterministic names. Dry-run
  changes nothing and returns the same decision. A 403 (the runbook's identity may not assign roles)
  fails at once with what it needs; ``RoleAssignmentExists`` (a twin made meanwhile under another
  name) counts as present.
- :func:`role_assignment_rows` is the drift table of the provision report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from prefect import get_run_logger, task

from foundry_dr import role_assignments as ra
from foundry_dr.arm_template import API_VERSIONS
from foundry_dr.errors import PermanentError
from foundry_dr.resource_ids import ML
from foundry_dr.sides import Side
from foundry_dr.tasks.retried import RETRIED, RETRIED_APPLY

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory

_SCOPE_API = {
    "hub": API_VERSIONS[f"{ML}/workspaces"],
    "project": API_VERSIONS[f"{ML}/workspaces"],
    "storage": API_VERSIONS["Microsoft.Storage/storageAccounts"],
    "ai_services": API_VERSIONS["Microsoft.CognitiveServices/accounts"],
    "vault": "2023-07-01",  # tasks/workspace.py KV_API
    "registry": "2025-11-01",  # what azure-mgmt-containerregistry 15 sends (tests/conformance/azure_operations.py)
}


def _scope_arg(scope: str) -> str:
    """The SDK's ``scope`` goes into ``/{scope}/providers/...`` unquoted: no leading slash."""
    return scope.lstrip("/")


def _assignments(factory: ClientFactory, subscription: str, scope: str) -> list[ra.Assignment]:
    client = factory.authorization_client(subscription)
    return [ra.assignment_of(a.as_dict()) for a in
            client.role_assignments.list_for_scope(_scope_arg(scope), filter="atScope()")]  # fmt: skip


def _doc(factory: ClientFactory, subscription: str, resource_id: str, api: str) -> dict | None:
    try:
        return factory.resource_client(subscription).resources.get_by_id(resource_id, api_version=api).as_dict()
    except ResourceNotFoundError:
        return None


def _sub_of(resource_id: str) -> str:
    return resource_id.split("/")[2]


def _identities(factory: ClientFactory, side: Side, docs: dict[str, dict | None]) -> dict[str, str]:
    """``hub`` / ``project:<primary name>`` / ``endpoint:<that>/<endpoint>`` -> principal id."""
    plan = factory.plan
    site = plan.side(side)
    out: dict[str, str] = {}
    workspaces = [("hub", site.hub)] + [(f"project:{p}", site.projects[i] if side == "secondary" else p)
                                        for i, p in enumerate(plan.primary.projects) if i < len(site.projects)]
    for logical, name in workspaces:
        doc = docs.get(logical)
        if not doc:
            continue
        identity = doc.get("identity") or {}
        principal = identity.get("principal_id") or identity.get("principalId")
        if principal:
            out[logical] = principal
        for endpoint in factory.ml_client(side, name).online_endpoints.list():
            pid = getattr(getattr(endpoint, "identity", None), "principal_id", None)
            if pid:
                out[f"endpoint:{logical}/{endpoint.name}"] = pid
    return out


def _role(factory: ClientFactory, role: str, primary_scope: str, secondary_rg: str) -> ra.Role | None:
    plan = factory.plan
    try:
        found = factory.authorization_client(plan.primary.subscription_id).role_definitions.get(
            _scope_arg(primary_scope), role).as_dict()  # fmt: skip
    except ResourceNotFoundError:
        return None
    custom = found.get("role_type") == "CustomRole"
    sec = factory.authorization_client(plan.secondary.subscription_id).role_definitions

    def readable(role_id: str) -> bool:
        try:
            sec.get(_scope_arg(secondary_rg), role_id)
            return True
        except ResourceNotFoundError:
            return False

    available = not custom or readable(role)
    copy = custom and not available and readable(ra.copied_role_id(plan.secondary.subscription_id, role))
    return ra.Role(role, found.get("role_name") or role, custom, available, found.get("description") or "",
                   found.get("permissions") or [], copy)  # fmt: skip


@task(name="inventory-role-assignments", **RETRIED)
def inventory_role_assignments(factory: ClientFactory) -> dict[str, Any]:
    """Everything :func:`foundry_dr.role_assignments.decide` needs, read live (read-only)."""
    plan = factory.plan
    pairs, _ = ra.scope_pairs(plan)
    primary: dict[str, list[ra.Assignment]] = {}
    secondary: dict[str, list[ra.Assignment]] = {}
    missing: set[str] = set()
    docs: dict[Side, dict[str, dict | None]] = {"primary": {}, "secondary": {}}
    for pair in pairs:
        for side, scope in (("primary", pair.primary), ("secondary", pair.secondary)):
            doc = _doc(factory, _sub_of(scope), scope, _SCOPE_API[pair.kind])
            if pair.kind in ("hub", "project"):
                docs[side]["hub" if pair.kind == "hub" else f"project:{pair.name}"] = doc
            if doc is None:
                if side == "secondary":
                    missing.add(scope)
                continue
            target = primary if side == "primary" else secondary
            target[scope] = _assignments(factory, _sub_of(scope), scope)
    secondary_rg = f"/subscriptions/{plan.secondary.subscription_id}/resourceGroups/{plan.secondary.resource_group}"
    roles: dict[str, ra.Role] = {}
    for pair in pairs:
        for a in primary.get(pair.primary, []):
            if a.role not in roles:
                role = _role(factory, a.role, pair.primary, secondary_rg)
                if role is not None:
                    roles[a.role] = role
    identities = {side: _identities(factory, side, docs[side]) for side in ("primary", "secondary")}
    return {"primary": primary, "secondary": secondary, "roles": roles, "identities": identities,
            "missing_scopes": sorted(missing)}  # fmt: skip


def decide(factory: ClientFactory, inventory: dict[str, Any], *, dry_run: bool = False,
           copy_custom_roles: bool = True) -> ra.Decision:
    """The decision over an inventory (pure; dry-run: scopes the deploy creates are pending)."""
    return ra.decide(factory.plan, inventory["primary"], inventory["secondary"], inventory["roles"],
                     inventory["identities"], missing_scopes=set(inventory["missing_scopes"]),
                     copy_custom_roles=copy_custom_roles, pending=dry_run)  # fmt: skip


def _forbidden(exc: HttpResponseError, what: str) -> PermanentError:
    code = getattr(exc.error, "code", None) if exc.error else None
    return PermanentError(
        f"{what}: Azure answered 403 {code or ''}: the runbook's identity may not write role assignments "
        "(Microsoft.Authorization/roleAssignments/write). Give it Owner, User Access Administrator or Role "
        f"Based Access Control Administrator on the secondary's scopes, or create them by hand. Azure said: "
        f"{getattr(exc.error, 'message', None) or exc.message}"
    )


@task(name="apply-role-assignments", **RETRIED_APPLY)
def apply_role_assignments(factory: ClientFactory, decision: ra.Decision, dry_run: bool = False) -> dict[str, Any]:
    """Create the role copies and assignments ``decision`` says are missing (none in dry-run).

    Returns ``{"created": [names], "roles_created": [ids], "present": [names]}``; a re-run of a
    completed apply creates nothing (same names, and presence by scope, role and principal)."""
    from azure.mgmt.authorization.models import Permission, RoleAssignmentCreateParameters, RoleDefinition

    logger = get_run_logger()
    plan = factory.plan
    out: dict[str, Any] = {"created": [], "roles_created": [], "present": [], "dry_run": dry_run}
    if dry_run:
        return out
    client = factory.authorization_client(plan.secondary.subscription_id)
    for copy in decision.role_copies:
        scope = copy.assignable_scopes[0]
        body = RoleDefinition(
            role_name=copy.role_name, description=copy.description, role_type="CustomRole",
            permissions=[Permission(actions=p.get("actions") or [], not_actions=p.get("not_actions") or [],
                                    data_actions=p.get("data_actions") or [],
                                    not_data_actions=p.get("not_data_actions") or []) for p in copy.permissions],
            assignable_scopes=copy.assignable_scopes,
        )  # fmt: skip
        try:
            client.role_definitions.create_or_update(_scope_arg(scope), copy.id, body)
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise _forbidden(exc, f"copying custom role {copy.role_name}") from exc
            raise
        out["roles_created"].append(copy.id)
        logger.info("role-assignments: copied custom role %s as %s", copy.source, copy.id)
    for twin in decision.creates:
        params = RoleAssignmentCreateParameters(
            role_definition_id=ra.role_definition_id(plan.secondary.subscription_id, twin.role),
            principal_id=twin.principal_id, principal_type=twin.principal_type, description=twin.description,
            condition=twin.condition, condition_version=twin.condition_version,
        )  # fmt: skip
        try:
            client.role_assignments.create(_scope_arg(twin.scope), twin.name, params)
        except HttpResponseError as exc:
            code = getattr(exc.error, "code", None) if exc.error else None
            if exc.status_code == 409 and code == "RoleAssignmentExists":
                out["present"].append(twin.name)
                continue
            if exc.status_code == 403:
                raise _forbidden(exc, f"assigning {twin.role_name} to {twin.principal_id} on {twin.scope}") from exc
            raise
        out["created"].append(twin.name)
    logger.info("role-assignments: %d created, %d custom role(s) copied", len(out["created"]),
                len(out["roles_created"]))  # fmt: skip
    return out


def role_assignment_rows(decision: ra.Decision, result: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The drift table rows (scope, role, principal, state, detail) of the provision report, after
    the apply ``result`` when there was one."""
    if result:
        ra.applied(decision, result.get("created", []), result.get("present", []))
    return ra.drift_rows(decision)
