"""Microsoft.Authorization role assignments and role definitions: extension resources on any scope.

Routes (``{scope}`` a subscription, resource group or resource id; ids.EXTENSION_NAMESPACES):
``{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]`` (GET, PUT, DELETE, LIST) and
``{scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}]`` (GET, PUT, DELETE, LIST).
Shapes from the official examples in Azure/azure-rest-api-specs,
specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/examples/
(cited per behaviour as ``examples/<file>``). Writes need the Owner principal: the engine's
authorization answers the Reader 403 AuthorizationFailed for ``Microsoft.Authorization/roleAssignments/write``
before this module is reached (engine.Engine.authorize).
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING

from foundry_dr_sandbox.arm.core import contract
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid, not_found, rg_not_found
from foundry_dr_sandbox.arm.core.ids import key
from foundry_dr_sandbox.arm.core.provider import Reply, Request
from foundry_dr_sandbox.arm.providers.authorization.builtin_roles import BUILTIN_BY_ID, builtin_doc

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

NAMESPACE = "Microsoft.Authorization"
ASSIGNMENTS = f"{NAMESPACE}/roleAssignments"
DEFINITIONS = f"{NAMESPACE}/roleDefinitions"
EXAMPLES = "Azure/azure-rest-api-specs specification/authorization/resource-manager/Microsoft.Authorization/" \
           "stable/2022-04-01/examples"  # fmt: skip


def _rest_model(name: str) -> type | None:
    try:
        from azure.mgmt.authorization.v2022_04_01 import models
    except ImportError:  # the SDK is a product dependency; without it bodies go unchecked
        return None
    return getattr(models, name, None)


ASSIGNMENT_MODEL = _rest_model("RoleAssignmentCreateParameters")
DEFINITION_MODEL = _rest_model("RoleDefinition")


def _guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def at_or_above(outer: str, inner: str) -> bool:
    """Whether scope ``outer`` is ``inner`` or one of its ancestors (ids are case-insensitive)."""
    o, i = key(outer), key(inner)
    return o == i or i.startswith(o + "/") or o == ""


def _check_scope(engine: Engine, scope: str) -> None:
    """The scope of a write must exist: its resource group, or the resource itself."""
    segs = [s for s in scope.split("/") if s]
    if len(segs) == 2:
        return
    if len(segs) >= 4 and segs[2].lower() == "resourcegroups":
        if not engine.store.get(f"/subscriptions/{segs[1]}/resourceGroups/{segs[3]}"):
            raise rg_not_found(segs[3])
        if len(segs) > 4 and engine.load(scope) is None:
            raise not_found(scope)
        return
    raise ArmError(400, "InvalidScope", f"The scope '{scope}' is not a valid scope for a role assignment.")


def _body_props(engine: Engine, req: Request, model: type | None, what: str) -> dict:
    """The body's ``properties``, after the contract check with the SDK's REST model (core/contract.py)."""
    if req.body is not None and not isinstance(req.body, dict):
        raise invalid("The request content was invalid and could not be deserialized: expected a JSON object.")
    if engine.contract_check and model is not None:
        contract.check(model, req.body or {}, f"{what}@{req.api_version}")
    props = (req.body or {}).get("properties")
    if not isinstance(props, dict):
        raise invalid("The request content is missing 'properties'.")
    return props


# ---- role definitions -----------------------------------------------------------------------------
def _custom(engine: Engine, role_id: str) -> dict | None:
    found = engine.store.get(f"/providers/{DEFINITIONS}/{role_id}")
    return found[0] if found else None


def _visible(doc: dict, scope: str) -> bool:
    """A custom role is available at the scopes below one of its ``assignableScopes`` (learn.microsoft.com,
    "Azure custom roles": AssignableScopes are the scopes where the custom role is available)."""
    return any(at_or_above(s, scope) for s in doc["properties"].get("assignableScopes") or [])


def definition_at(engine: Engine, role_id: str, scope: str, subscription: str) -> dict | None:
    """Role definition ``role_id`` as readable at ``scope`` (built-in anywhere; custom where assignable)."""
    rid = _guid(role_id)
    if rid is None:
        return None
    builtin = builtin_doc(rid, subscription)
    if builtin is not None:
        return builtin
    doc = _custom(engine, rid)
    if doc is None or not _visible(doc, scope):
        return None
    out = copy.deepcopy(doc)
    out["id"] = f"/subscriptions/{subscription}/providers/{DEFINITIONS}/{rid}"
    return out


def _definition_missing(role_id: str) -> ArmError:
    # message of Azure RBAC's troubleshooting page (learn.microsoft.com, "Troubleshoot Azure RBAC")
    return ArmError(404, "RoleDefinitionDoesNotExist",
                    f"The specified role definition with ID '{role_id}' does not exist.")  # fmt: skip


def _definitions(engine: Engine, req: Request) -> Reply:
    p = req.path
    scope = p.scope or f"/subscriptions/{p.subscription}"
    if not p.names:  # LIST (roleDefinitions/list): built-ins and the custom roles available at the scope
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"{req.method} is not allowed on a collection.")
        docs = [builtin_doc(rid, p.subscription) for rid in BUILTIN_BY_ID]
        docs += [definition_at(engine, d["name"], scope, p.subscription)
                 for d, _ in engine.store.by_type(DEFINITIONS)]  # fmt: skip
        found = [d for d in docs if d is not None]
        flt = (req.query.get("$filter") or "").strip()
        m = re.fullmatch(r"(roleName|type)\s+eq\s+'([^']*)'", flt)
        if flt and not m:
            raise ArmError(400, "InvalidFilter", f"The sandbox does not support the filter '{flt}'.")
        if m:
            field, value = m.group(1), m.group(2).lower()
            found = [d for d in found if str(d["properties"].get(field, "")).lower() == value]
        return Reply(200, {"value": found})
    role_id = p.names[0]
    if req.method == "GET":  # examples/GetRoleDefinitionByName.json
        doc = definition_at(engine, role_id, scope, p.subscription)
        if doc is None:
            raise _definition_missing(role_id)
        return Reply(200, doc)
    if req.method == "PUT":  # examples/PutRoleDefinition.json: 201 and the role
        rid = _guid(role_id)
        if rid is None:
            raise ArmError(400, "RoleDefinitionIdNotValid", f"The role definition ID '{role_id}' is not a valid GUID.")
        if rid in BUILTIN_BY_ID:
            raise ArmError(400, "RoleDefinitionIdNotValid", f"'{rid}' is a built-in role; built-in roles cannot be "
                           "changed.")  # fmt: skip
        props = _body_props(engine, req, DEFINITION_MODEL, DEFINITIONS)
        name = props.get("roleName")
        scopes = props.get("assignableScopes") or []
        if not name or not scopes:
            raise invalid("A custom role needs 'roleName' and at least one of 'assignableScopes'.")
        for s in scopes:
            _check_scope(engine, s)
        for other, _ in engine.store.by_type(DEFINITIONS):
            if other["name"] != rid and str(other["properties"]["roleName"]).lower() == str(name).lower():
                # learn.microsoft.com, "Troubleshoot Azure RBAC": role names are unique in a directory
                raise ArmError(409, "RoleDefinitionWithSameNameExists",
                               "A custom role with the same name already exists in this directory. "
                               "Use a different name.")  # fmt: skip
        existing = _custom(engine, rid)
        doc = {
            "properties": {
                "roleName": name,
                "type": "CustomRole",
                "description": props.get("description") or "",
                "assignableScopes": list(scopes),
                "permissions": props.get("permissions") or [],
            },
            "id": f"/subscriptions/{p.subscription}/providers/{DEFINITIONS}/{rid}",
            "type": DEFINITIONS,
            "name": rid,
        }
        engine.store.put(f"/providers/{DEFINITIONS}/{rid}", "/", DEFINITIONS, doc, {})
        return Reply(200 if existing else 201, doc)
    if req.method == "DELETE":  # examples/DeleteRoleDefinition.json: 200 and the deleted role
        rid = _guid(role_id) or role_id
        doc = _custom(engine, rid)
        if doc is None:
            return Reply(204)
        engine.store.delete_tree(f"/providers/{DEFINITIONS}/{rid}")
        return Reply(200, doc)
    raise ArmError(405, "MethodNotAllowed", f"{req.method} is not allowed here.")


# ---- role assignments -----------------------------------------------------------------------------
def _assignments_under(engine: Engine, subscription: str) -> list[dict]:
    return [d for d, _ in engine.store.by_type(ASSIGNMENTS, f"/subscriptions/{subscription}")]


def _list_assignments(engine: Engine, req: Request, scope: str) -> Reply:
    """examples/RoleAssignments_ListForScope.json. ``$filter`` as the SDK documents it
    (RoleAssignmentsOperations.list_for_scope): ``atScope()`` returns the assignments at or above the
    scope; ``principalId eq '{id}'`` / ``assignedTo('{id}')`` those at, above or below it for the
    principal; no filter, all at, above or below."""
    flt = (req.query.get("$filter") or "").strip()
    at_scope = False
    principal = None
    for part in [s.strip() for s in re.split(r"\s+and\s+", flt) if s.strip()]:
        m = re.fullmatch(r"principalId\s+eq\s+'?([0-9a-fA-F-]+)'?|assignedTo\('([0-9a-fA-F-]+)'\)", part)
        if part.lower() == "atscope()":
            at_scope = True
        elif m:
            principal = (m.group(1) or m.group(2)).lower()
        else:
            raise ArmError(400, "InvalidFilter", f"The sandbox does not support the filter '{flt}'.")
    out = []
    for doc in _assignments_under(engine, req.path.subscription):
        at = doc["properties"]["scope"]
        if at_scope and not at_or_above(at, scope):
            continue
        if not at_scope and not (at_or_above(at, scope) or at_or_above(scope, at)):
            continue
        if principal and doc["properties"]["principalId"].lower() != principal:
            continue
        out.append(doc)
    return Reply(200, {"value": out})


def _assignment_put(engine: Engine, req: Request, scope: str, name: str) -> Reply:
    """examples/RoleAssignments_CreateForResource.json (and _CreateForResourceGroup, _CreateForSubscription):
    201 with the assignment, whose ``properties.scope`` is the scope it was created at."""
    rid = req.path.resource_id
    if _guid(name) is None:
        raise ArmError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid. "
                       "The role assignment ID must be a GUID.")  # fmt: skip
    props = _body_props(engine, req, ASSIGNMENT_MODEL, ASSIGNMENTS)
    _check_scope(engine, scope)
    role_ref = str(props.get("roleDefinitionId") or "")
    role_id = role_ref.rstrip("/").rsplit("/", 1)[-1]
    if definition_at(engine, role_id, scope, req.path.subscription) is None:
        raise ArmError(400, "RoleDefinitionDoesNotExist",
                       f"The specified role definition with ID '{role_id}' does not exist.")  # fmt: skip
    principal = str(props.get("principalId") or "")
    existing = engine.store.get(rid)
    if existing:
        old = existing[0]["properties"]
        if old["principalId"].lower() != principal.lower() or _role_guid(old["roleDefinitionId"]) != role_id.lower():
            # learn.microsoft.com, "Troubleshoot Azure RBAC": an assignment's principal, role and scope are fixed
            raise ArmError(409, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, "
                           "and scope are not allowed to be updated.")  # fmt: skip
    for other in _assignments_under(engine, req.path.subscription):
        o = other["properties"]
        same = (key(o["scope"]), o["principalId"].lower(), _role_guid(o["roleDefinitionId"]))
        if key(other["id"]) != key(rid) and same == (key(scope), principal.lower(), role_id.lower()):
            # 409 RoleAssignmentExists: (scope, principal, role) is the unique key of an assignment
            # (learn.microsoft.com, "Troubleshoot Azure RBAC", "Role assignment already exists")
            raise ArmError(409, "RoleAssignmentExists",
                           "The role assignment already exists. The ID of the existing role assignment is "
                           f"{other['name'].replace('-', '')}.")  # fmt: skip
    stamp = _now()
    doc = {
        "properties": {
            # the examples answer the tenant-level form of the role id, whichever form was sent
            "roleDefinitionId": f"/providers/{DEFINITIONS}/{role_id.lower()}",
            "principalId": principal,
            "principalType": props.get("principalType") or "User",
            "scope": scope,
            "condition": props.get("condition"),
            "conditionVersion": props.get("conditionVersion"),
            "description": props.get("description"),
            "createdOn": existing[0]["properties"].get("createdOn", stamp) if existing else stamp,
            "updatedOn": stamp,
            "createdBy": req.caller.object_id,
            "updatedBy": req.caller.object_id,
            "delegatedManagedIdentityResourceId": None,
        },
        "id": rid,
        "type": ASSIGNMENTS,
        "name": name,
    }
    engine.store.put(rid, scope, ASSIGNMENTS, doc, {})
    return Reply(200 if existing else 201, doc)


def _role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _now() -> str:
    from foundry_dr_sandbox.arm.core.engine import now_iso

    return now_iso()


def _assignments(engine: Engine, req: Request) -> Reply:
    p = req.path
    scope = p.scope or f"/subscriptions/{p.subscription}"
    if not p.names:
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"{req.method} is not allowed on a collection.")
        return _list_assignments(engine, req, scope)
    name = p.names[0]
    if req.method == "PUT":
        return _assignment_put(engine, req, scope, name)
    found = engine.store.get(p.resource_id)
    if req.method == "GET":  # examples/RoleAssignments_Get.json
        if found is None:
            raise ArmError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
        return Reply(200, found[0])
    if req.method == "DELETE":  # examples/RoleAssignments_Delete.json: 200 and the assignment; 204 if none
        if found is None:
            return Reply(204)
        engine.store.delete_tree(p.resource_id)
        return Reply(200, found[0])
    raise ArmError(405, "MethodNotAllowed", f"{req.method} is not allowed here.")


def provider_path(engine: Engine, req: Request) -> Reply:
    """Every Microsoft.Authorization path (the engine hands extension paths of this namespace here)."""
    p = req.path
    types = [t.lower() for t in p.types]
    if p.kind == "extension" and len(types) == 1 and len(p.names) <= 1:
        if types[0] == "roleassignments":
            return _assignments(engine, req)
        if types[0] == "roledefinitions":
            return _definitions(engine, req)
    raise ArmError(404, "InvalidResourceType", f"The path '{req.raw_path}' is not supported by the sandbox.")
