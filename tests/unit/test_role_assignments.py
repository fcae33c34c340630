"""Role assignments in both regions (foundry_dr/role_assignments.py), and the sandbox's parsing of
the extension-resource paths they live at (sandbox/arm/core/ids.py)."""

from __future__ import annotations

from typing import Any

import pytest

from foundry_dr import role_assignments as ra
from foundry_dr.plan import Plan
from foundry_dr_sandbox.arm.core.ids import parse

SUB = "00000000-0000-4000-8000-000000000001"
P_RG = f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus"
S_RG = f"/subscriptions/{SUB}/resourceGroups/rg-foundry-westus"
ML = "providers/Microsoft.MachineLearningServices/workspaces"
P_HUB, S_HUB = f"{P_RG}/{ML}/hub-contoso-eastus", f"{S_RG}/{ML}/hub-contoso-westus"
P_CHAT, S_CHAT = f"{P_RG}/{ML}/proj-chat", f"{S_RG}/{ML}/proj-chat"
P_SA = f"{P_RG}/providers/Microsoft.Storage/storageAccounts/stfdreastus"
S_SA = f"{S_RG}/providers/Microsoft.Storage/storageAccounts/stfdrwestus"
VAULT = f"{P_RG}/providers/Microsoft.KeyVault/vaults/kv-fdr-shared"
ACR = f"{P_RG}/providers/Microsoft.ContainerRegistry/registries/acrfdrshared"
S_AIS = f"{S_RG}/providers/Microsoft.CognitiveServices/accounts/ais-contoso-westus"
ALICE = "11111111-1111-4111-8111-111111111111"
P_HUB_MI, S_HUB_MI = "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
S_EP_MI = "44444444-4444-4444-8444-444444444444"
CUSTOM = "55555555-5555-4555-8555-555555555555"


@pytest.fixture
def plan(sandbox_plan_data: dict[str, Any]) -> Plan:
    return Plan.model_validate(sandbox_plan_data)


def _a(scope: str, role: str, principal: str, ptype: str | None = "User", name: str = "p-1") -> ra.Assignment:
    return ra.Assignment(scope, role, principal, ptype, name)


def _roles(**extra: ra.Role) -> dict[str, ra.Role]:
    roles = {r: ra.Role(r, n) for r, n in ra.BUILTIN_NAMES.items()}
    roles.update(extra)
    return roles


def test_scope_pairs_map_each_primary_scope_to_its_twin(plan: Plan) -> None:
    pairs, problems = ra.scope_pairs(plan)
    got = {(p.kind, p.name): (p.primary, p.secondary) for p in pairs}
    assert problems == []
    assert got[("hub", "hub-contoso-eastus")] == (P_HUB, S_HUB)
    assert got[("project", "proj-chat")] == (P_CHAT, S_CHAT)
    assert got[("storage", "stfdreastus")] == (P_SA, S_SA)
    assert got[("storage", "stfdreastusdata")][1].endswith("/stfdrwestusdata")
    assert got[("vault", "kv-fdr-shared")] == (VAULT, VAULT)  # one vault shared by both hubs
    assert got[("registry", "acrfdrshared")] == (ACR, ACR)  # one geo-replicated registry
    assert got[("ai_services", "ais-contoso-eastus")][1] == S_AIS


def test_unpaired_scopes_are_named(sandbox_plan_data: dict[str, Any]) -> None:
    sandbox_plan_data["secondary"]["extra_storage_accounts"] = []
    sandbox_plan_data["secondary"].pop("ai_services")
    _, problems = ra.scope_pairs(Plan.model_validate(sandbox_plan_data))
    assert any("stfdreastusdata" in p for p in problems)
    assert any("ais-contoso-eastus" in p for p in problems)


def test_missing_twins_are_created_with_deterministic_names(plan: Plan) -> None:
    primary = {P_HUB: [_a(P_HUB, ra.AML_DATA_SCIENTIST, ALICE)], P_SA: [_a(P_SA, ra.BLOB_READER, ALICE, name="p-2")]}
    one = ra.decide(plan, primary, {}, _roles(), {})
    two = ra.decide(plan, primary, {}, _roles(), {})
    creates = {(t.scope, t.role, t.principal_id): t.name for t in one.creates}
    assert creates == {(S_HUB, ra.AML_DATA_SCIENTIST, ALICE): ra.assignment_name(S_HUB, ra.AML_DATA_SCIENTIST, ALICE),
                       (S_SA, ra.BLOB_READER, ALICE): ra.assignment_name(S_SA, ra.BLOB_READER, ALICE)}
    assert [t.name for t in two.creates] == [t.name for t in one.creates]  # same inputs, same names
    assert ra.assignment_name(S_HUB, ra.AML_DATA_SCIENTIST, ALICE) != ra.assignment_name(P_HUB, ra.AML_DATA_SCIENTIST,
                                                                                         ALICE)


def test_a_twin_under_any_name_is_present_and_nothing_is_created(plan: Plan) -> None:
    primary = {P_HUB: [_a(P_HUB, ra.AML_DATA_SCIENTIST, ALICE)]}
    secondary = {S_HUB: [_a(S_HUB, ra.AML_DATA_SCIENTIST, ALICE.upper(), name="made-by-hand")]}
    decision = ra.decide(plan, primary, secondary, _roles(), {})
    assert decision.creates == []
    [twin] = decision.twins
    assert (twin.state, twin.name) == (ra.PRESENT, "made-by-hand")


def test_a_shared_scope_is_its_own_twin(plan: Plan) -> None:
    assignment = _a(VAULT, ra.KV_SECRETS_USER, ALICE)
    decision = ra.decide(plan, {VAULT: [assignment]}, {VAULT: [assignment]}, _roles(), {})
    assert [(t.state, t.scope) for t in decision.twins] == [(ra.PRESENT, VAULT)]


def test_inherited_assignments_are_not_copied(plan: Plan) -> None:
    inherited = _a(f"/subscriptions/{SUB}", ra.READER, ALICE)
    assert ra.decide(plan, {P_HUB: [inherited]}, {}, _roles(), {}).twins == []


def test_unknown_principal_type_is_a_problem_not_a_copy(plan: Plan) -> None:
    decision = ra.decide(plan, {P_HUB: [_a(P_HUB, ra.READER, ALICE, ptype="Unknown")]}, {}, _roles(), {})
    [twin] = decision.twins
    assert twin.state == ra.PROBLEM and "principal type Unknown" in twin.detail
    assert decision.creates == []


def test_primary_identity_is_replaced_by_its_secondary_twin(plan: Plan) -> None:
    primary = {ACR: [_a(ACR, ra.ACR_PULL, P_HUB_MI, "ServicePrincipal")]}
    identities = {"primary": {"hub": P_HUB_MI}, "secondary": {"hub": S_HUB_MI}}
    decision = ra.decide(plan, primary, {}, _roles(), identities)
    principals = {t.principal_id for t in decision.twins}
    assert P_HUB_MI not in principals and S_HUB_MI in principals
    # AcrPull for the secondary hub asked twice (the primary's twin and a needed grant): one row
    assert len([t for t in decision.twins if t.role == ra.ACR_PULL and t.principal_id == S_HUB_MI]) == 1


def test_primary_identity_without_a_twin_is_named(plan: Plan) -> None:
    primary = {ACR: [_a(ACR, ra.ACR_PULL, P_HUB_MI, "ServicePrincipal")]}
    identities = {"primary": {"endpoint:project:proj-chat/ep": P_HUB_MI}, "secondary": {}}
    [twin] = ra.decide(plan, primary, {}, _roles(), identities).twins
    assert twin.state == ra.PROBLEM and "endpoint:project:proj-chat/ep identity has no twin" in twin.detail
    [pending] = ra.decide(plan, primary, {}, _roles(), identities, pending=True).twins
    assert pending.state == ra.PENDING


def test_secondary_identities_get_the_grants_they_need(plan: Plan) -> None:
    identities = {"primary": {}, "secondary": {"hub": S_HUB_MI, "endpoint:project:proj-chat/ep": S_EP_MI}}
    decision = ra.decide(plan, {}, {}, _roles(), identities)
    grants = {(t.principal_id, t.role, t.scope) for t in decision.creates}
    assert (S_HUB_MI, ra.ACR_PULL, ACR) in grants
    assert (S_HUB_MI, ra.BLOB_CONTRIBUTOR, S_SA) in grants
    assert (S_HUB_MI, ra.KV_SECRETS_USER, VAULT) in grants
    assert (S_HUB_MI, ra.OPENAI_USER, S_AIS) in grants
    assert (S_EP_MI, ra.ACR_PULL, ACR) in grants
    assert (S_EP_MI, ra.BLOB_READER, S_SA) in grants
    assert (S_EP_MI, ra.BLOB_CONTRIBUTOR, S_SA) not in grants
    assert all(t.principal_type == "ServicePrincipal" for t in decision.creates)


def test_custom_role_missing_in_the_secondary_is_copied_once(plan: Plan) -> None:
    role = ra.Role(CUSTOM, "Hub Operator", custom=True, available=False,
                   permissions=[{"actions": ["Microsoft.MachineLearningServices/workspaces/read"]}])
    primary = {P_HUB: [_a(P_HUB, CUSTOM, ALICE)]}
    decision = ra.decide(plan, primary, {}, _roles(**{CUSTOM: role}), {})
    [copy] = decision.role_copies
    assert copy.id == ra.copied_role_id(SUB, CUSTOM) and copy.assignable_scopes == [S_RG]
    assert copy.role_name == "Hub Operator (westus)"  # role names are unique in a tenant
    [twin] = decision.creates
    assert twin.role == copy.id
    # second run: the copy exists, nothing more to copy
    again = ra.decide(plan, primary, {}, _roles(**{CUSTOM: ra.Role(CUSTOM, "Hub Operator", True, False,
                                                                    copy_available=True)}), {})
    assert again.role_copies == [] and [t.role for t in again.creates] == [copy.id]


def test_custom_role_not_copied_is_a_named_problem(plan: Plan) -> None:
    role = ra.Role(CUSTOM, "Hub Operator", custom=True, available=False)
    decision = ra.decide(plan, {P_HUB: [_a(P_HUB, CUSTOM, ALICE)]}, {}, _roles(**{CUSTOM: role}), {},
                         copy_custom_roles=False)
    [twin] = decision.twins
    assert twin.state == ra.PROBLEM and "Hub Operator" in twin.detail and decision.role_copies == []


def test_missing_secondary_scope_is_a_problem_or_pending_in_dry_run(plan: Plan) -> None:
    primary = {P_HUB: [_a(P_HUB, ra.READER, ALICE)]}
    [twin] = ra.decide(plan, primary, {}, _roles(), {}, missing_scopes={S_HUB}).twins
    assert twin.state == ra.PROBLEM and S_HUB in twin.detail
    [dry] = ra.decide(plan, primary, {}, _roles(), {}, missing_scopes={S_HUB}, pending=True).twins
    assert dry.state == ra.PENDING


def test_applied_and_rows(plan: Plan) -> None:
    decision = ra.decide(plan, {P_HUB: [_a(P_HUB, ra.READER, ALICE)]}, {}, _roles(), {})
    ra.applied(decision, [decision.twins[0].name], [])
    [row] = ra.drift_rows(decision)
    assert row == {"scope": "hub hub-contoso-eastus", "role": "Reader", "principal": f"User {ALICE}",
                   "state": ra.CREATED, "detail": "primary p-1"}


def test_role_guid_reads_both_id_forms() -> None:
    sub_form = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ra.OWNER}"
    assert ra.role_guid(sub_form) == ra.OWNER
    assert ra.role_guid(f"/providers/Microsoft.Authorization/roleDefinitions/{ra.OWNER.upper()}") == ra.OWNER


@pytest.mark.parametrize(
    ("path", "scope", "rg"),
    [
        (f"{P_HUB}/providers/Microsoft.Authorization/roleAssignments/x", P_HUB, "rg-foundry-eastus"),
        (f"{P_RG}/providers/Microsoft.Authorization/roleAssignments/x", P_RG, "rg-foundry-eastus"),
        (f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/x", f"/subscriptions/{SUB}", None),
    ],
)
def test_sandbox_parses_extension_resources_at_any_scope(path: str, scope: str, rg: str | None) -> None:
    p = parse(path, "PUT")
    assert (p.kind, p.scope, p.resource_group, p.full_type) == ("extension", scope, rg,
                                                                "Microsoft.Authorization/roleAssignments")
    assert p.resource_id == path and p.parent_id == scope
    listing = parse(path.rsplit("/", 1)[0], "GET")
    assert listing.kind == "extension" and listing.names == ()


def test_sandbox_parse_of_other_paths_is_unchanged() -> None:
    p = parse(f"{P_HUB}/onlineEndpoints/ep", "PUT")
    assert (p.kind, p.types, p.names) == ("resource", ("workspaces", "onlineEndpoints"), ("hub-contoso-eastus", "ep"))
    assert parse(f"/subscriptions/{SUB}/providers/Microsoft.Storage/locations/eastus/usages", "GET").kind == \
        "provider_path"
