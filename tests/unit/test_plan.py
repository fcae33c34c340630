"""The DR plan model: the shipped plans validate, every mistake is reported with its path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from foundry_dr.errors import PlanError
from foundry_dr.plan import (
    MAX_PLAN_BYTES,
    Plan,
    apply_overrides,
    check_connection_mapping,
    load_plan,
    plan_json_schema,
    validate_plan,
)
from foundry_dr.runbooks import NAMES as RUNBOOK_NAMES

DELETE = object()
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS = "https://stfdreastus.blob.core.windows.net/c?sv=2024-08-04&ss=b&srt=co&sp=rl&sig=AbCdEf0123456789%2Bxyz%3D"
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJl"


def mutate(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set (or delete, with DELETE) ``a.b[1].c`` in a plan mapping; an independent test helper."""
    parts = [int(i) if i else k for k, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
    node: Any = data
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PlanError) as info:
        validate_plan(data)
    return info.value.problems


def paths_of(problems: list[str]) -> set[str]:
    return {p.split(": ", 1)[0] for p in problems}


# --- the shipped plans -----------------------------------------------------------------------


def test_sandbox_plan_validates_with_the_names_the_sandbox_serves(sandbox_plan_path: Path) -> None:
    plan = load_plan(sandbox_plan_path)
    assert (plan.name, plan.cloud) == ("contoso-sandbox", "sandbox")
    assert (
        plan.primary.subscription_id
        == plan.secondary.subscription_id
        == "00000000-0000-4000-8000-000000000001"
    )
    assert (plan.primary.location, plan.secondary.location) == ("eastus", "westus")
    assert (plan.primary.hub, plan.secondary.hub) == ("hub-contoso-eastus", "hub-contoso-westus")
    assert plan.primary.projects == plan.secondary.projects == ["proj-chat", "proj-vision"]
    assert (plan.primary.storage_account, plan.secondary.storage_account) == ("stfdreastus", "stfdrwestus")
    assert plan.primary.extra_storage_accounts == ["stfdreastusdata"]
    assert plan.secondary.extra_storage_accounts == ["stfdrwestusdata"]
    assert plan.primary.ai_services == "ais-contoso-eastus"
    assert plan.secondary.application_insights == "appi-contoso-westus"
    assert plan.shared.key_vault.name == "kv-fdr-shared"
    acr = plan.shared.container_registry
    assert acr is not None and (acr.name, acr.sku, acr.geo_replicated) == ("acrfdrshared", "Premium", True)
    assert plan.strategy.default == "hot-warm"
    assert [(c.primary, c.secondary) for c in plan.connections] == [("aoai-eastus", "aoai-westus")]
    assert (plan.objectives.rpo_minutes, plan.objectives.rto_minutes) == (15, 60)
    required = [r for r in RUNBOOK_NAMES if plan.approvals.is_required(r)]
    assert required == ["cut-over", "fail-back"]


def test_sandbox_plan_matches_the_sandbox_storage_accounts(sandbox_plan_path: Path) -> None:
    config = pytest.importorskip("foundry_dr_sandbox.config")
    plan = load_plan(sandbox_plan_path)
    named = {plan.primary.storage_account, plan.secondary.storage_account}
    named |= set(plan.primary.extra_storage_accounts) | set(plan.secondary.extra_storage_accounts)
    assert named == set(config.STORAGE_ACCOUNTS)


def test_example_azure_plan_validates(example_plan_path: Path) -> None:
    plan = load_plan(example_plan_path)
    assert plan.cloud == "AzureCloud"
    assert plan.primary.location != plan.secondary.location
    assert plan.strategy.for_component("online_endpoints") == "hot-hot"
    assert plan.strategy.for_component("batch_endpoints") == "hot-warm"  # falls back to default


def test_defaults_and_derived_values(sandbox_plan_data: dict[str, Any]) -> None:
    plan = validate_plan(sandbox_plan_data)
    assert plan.pointer.key_vault_secret == "foundry-dr-active-hub"
    assert plan.pointer.prefect_variable == "foundry_dr_active_hub_contoso_sandbox"
    assert plan.shared.key_vault.subscription_id == plan.primary.subscription_id
    assert plan.replication.concurrency == 16 and plan.replication.mirror_deletes is False
    assert plan.replication.asset_kinds == ["models", "data", "environments", "codes", "components"]
    assert plan.deployments.standby_instance_count == 1
    assert plan.approvals.timeout_minutes == 60
    assert plan.failback.conflict_policy == "keep-both"


def test_a_dumped_plan_validates_again(example_plan_path: Path) -> None:
    plan = load_plan(example_plan_path)
    dumped = plan.model_dump(mode="json")  # how Prefect stores flow parameters
    assert "cut-over" in dumped["approvals"]
    assert validate_plan(dumped).model_dump() == plan.model_dump()


def test_default_approvals_require_the_risky_runbooks(sandbox_plan_data: dict[str, Any]) -> None:
    del sandbox_plan_data["approvals"]
    plan = validate_plan(sandbox_plan_data)
    required = {r for r in RUNBOOK_NAMES if plan.approvals.is_required(r)}
    assert required == {"provision-secondary", "cut-over", "fail-back"}


# --- one mistake at a time: the exact field path is reported ----------------------------------

BAD_CASES: list[tuple[str, Any, str]] = [
    ("name", "Contoso_Sandbox", "name"),
    ("name", "-contoso", "name"),
    ("cloud", "AzurePublic", "cloud"),
    ("primary.subscription_id", "not-a-guid", "primary.subscription_id"),
    ("secondary.subscription_id", "00000000-0000-4000-8000-00000000000Z", "secondary.subscription_id"),
    ("primary.resource_group", "rg-foundry.", "primary.resource_group"),
    ("primary.resource_group", "r" * 91, "primary.resource_group"),
    ("secondary.resource_group", "rg/westus", "secondary.resource_group"),
    ("primary.hub", "-hub-contoso", "primary.hub"),
    ("primary.hub", "hb", "primary.hub"),
    ("secondary.hub", "h" * 34, "secondary.hub"),
    ("primary.projects[1]", "proj vision", "primary.projects[1]"),
    ("secondary.projects[1]", "proj-chat", "secondary.projects[1]"),  # duplicate
    ("primary.storage_account", "stFdrEastus", "primary.storage_account"),
    ("secondary.storage_account", "st", "secondary.storage_account"),
    ("primary.extra_storage_accounts[0]", "st-data", "primary.extra_storage_accounts[0]"),
    ("secondary.extra_storage_accounts", ["stfdrwestus"], "secondary.extra_storage_accounts[0]"),
    ("primary.location", "eastus9", "primary.location"),
    ("secondary.location", "eastus", "secondary.location"),
    ("secondary.location", "West US", "secondary.location"),
    ("primary.application_insights", "appi/contoso", "primary.application_insights"),
    ("primary.hubb", "hub-contoso-eastus", "primary.hubb"),
    ("secondary.hub", DELETE, "secondary.hub"),
    ("shared.key_vault.name", "1kv-shared", "shared.key_vault.name"),
    ("shared.key_vault.name", "kv--shared", "shared.key_vault.name"),
    ("shared.key_vault.name", "kv-shared-", "shared.key_vault.name"),
    ("shared.key_vault.resource_group", DELETE, "shared.key_vault.resource_group"),
    ("shared.container_registry.name", "acr-fdr-shared", "shared.container_registry.name"),
    ("shared.container_registry.sku", "Standard", "shared.container_registry.geo_replicated"),
    ("primary.registry", "acrfdreastus", "primary.registry"),  # both shared and per-side
    ("strategy.default", "warm", "strategy.default"),
    ("strategy.overrides.gpu", "hot-hot", "strategy.overrides.gpu"),
    ("connections[0].secondary", "", "connections[0].secondary"),
    (
        "connections",
        [{"primary": "a1", "secondary": "b1"}, {"primary": "a1", "secondary": "b2"}],
        "connections[1].primary",
    ),
    (
        "connections",
        [{"primary": "a1", "secondary": "b1"}, {"primary": "a2", "secondary": "b1"}],
        "connections[1].secondary",
    ),
    ("connections[0].tertiary", "x", "connections[0].tertiary"),
    ("replication.asset_kinds", ["models", "logs"], "replication.asset_kinds[1]"),
    ("replication.asset_kinds", ["models", "models"], "replication.asset_kinds[1]"),
    ("replication.concurrency", 0, "replication.concurrency"),
    ("replication.concurrency", 257, "replication.concurrency"),
    ("replication.transfer", "fast", "replication.transfer"),
    ("replication.mirror_deletes", "sometimes", "replication.mirror_deletes"),
    ("deployments.standby_instance_count", -1, "deployments.standby_instance_count"),
    ("deployments.smoke_test.on_failure", "ignore", "deployments.smoke_test.on_failure"),
    ("approvals.cut-over", "maybe", "approvals.cut-over"),
    ("approvals.cut_over", "auto", "approvals.cut_over"),
    ("approvals.timeout_minutes", 0, "approvals.timeout_minutes"),
    ("objectives.rpo_minutes", 0, "objectives.rpo_minutes"),
    ("objectives.rto_minutes", -5, "objectives.rto_minutes"),
    ("objectives.rto_minutes", True, "objectives.rto_minutes"),
    ("objectives", DELETE, "objectives"),
    ("pointer.prefect_variable", "Active-Hub", "pointer.prefect_variable"),
    ("pointer.key_vault_secret", "has space", "pointer.key_vault_secret"),
    ("failback.conflict_policy", "overwrite", "failback.conflict_policy"),
    ("strateg", {"default": "hot-hot"}, "strateg"),
]


@pytest.mark.parametrize(
    ("path", "value", "reported"), BAD_CASES, ids=[f"{c[0]}={c[1]!r:.30}" for c in BAD_CASES]
)
def test_each_mistake_is_reported_at_its_path(
    sandbox_plan_data: dict[str, Any], path: str, value: Any, reported: str
) -> None:
    problems = problems_of(mutate(sandbox_plan_data, path, value))
    assert reported in paths_of(problems), problems


def test_same_location_message_is_exact(sandbox_plan_data: dict[str, Any]) -> None:
    problems = problems_of(mutate(sandbox_plan_data, "secondary.location", "eastus"))
    assert problems == ["secondary.location: must differ from primary.location (both 'eastus')"]


def test_region_suggestion(sandbox_plan_data: dict[str, Any]) -> None:
    problems = problems_of(mutate(sandbox_plan_data, "primary.location", "eastus3"))
    assert any("not a known Azure region" in p and "did you mean" in p for p in problems), problems


def test_real_clouds_need_separate_storage_accounts(example_plan_data: dict[str, Any]) -> None:
    mutate(example_plan_data, "secondary.storage_account", example_plan_data["primary"]["storage_account"])
    assert "secondary.storage_account" in paths_of(problems_of(example_plan_data))


def test_sandbox_may_share_a_storage_account(sandbox_plan_data: dict[str, Any]) -> None:
    mutate(sandbox_plan_data, "secondary.storage_account", "stfdreastus")
    assert validate_plan(sandbox_plan_data).secondary.storage_account == "stfdreastus"


def test_region_must_belong_to_the_cloud(example_plan_data: dict[str, Any]) -> None:
    example_plan_data["cloud"] = "AzureUSGovernment"
    paths = paths_of(problems_of(example_plan_data))
    assert {"primary.location", "secondary.location"} <= paths
    mutate(example_plan_data, "primary.location", "usgovvirginia")
    mutate(example_plan_data, "secondary.location", "usgovtexas")
    assert validate_plan(example_plan_data).primary.location == "usgovvirginia"


def test_per_side_registries_must_come_in_pairs(sandbox_plan_data: dict[str, Any]) -> None:
    del sandbox_plan_data["shared"]["container_registry"]
    mutate(sandbox_plan_data, "primary.registry", "acrfdreastus")
    assert "secondary.registry" in paths_of(problems_of(sandbox_plan_data))
    mutate(sandbox_plan_data, "secondary.registry", "acrfdrwestus")
    assert validate_plan(sandbox_plan_data).secondary.registry == "acrfdrwestus"


def test_five_mistakes_are_all_listed(sandbox_plan_data: dict[str, Any]) -> None:
    mutate(sandbox_plan_data, "primary.subscription_id", "1234")
    mutate(sandbox_plan_data, "secondary.location", "eastus")
    mutate(sandbox_plan_data, "shared.container_registry.name", "acr")
    mutate(sandbox_plan_data, "objectives.rpo_minutes", 0)
    mutate(sandbox_plan_data, "replication.transfr", "auto")
    problems = problems_of(sandbox_plan_data)
    assert paths_of(problems) == {
        "primary.subscription_id",
        "secondary.location",
        "shared.container_registry.name",
        "objectives.rpo_minutes",
        "replication.transfr",
    }, problems
    assert len(problems) == 5


def test_unknown_field_suggests_the_right_one(sandbox_plan_data: dict[str, Any]) -> None:
    problems = problems_of(mutate(sandbox_plan_data, "replication.concurency", 8))
    assert problems == ["replication.concurency: unknown field (did you mean 'concurrency'?)"]


def test_building_a_plan_directly_still_runs_cross_field_rules(sandbox_plan_data: dict[str, Any]) -> None:
    mutate(sandbox_plan_data, "secondary.location", "eastus")
    with pytest.raises(ValidationError, match="must differ from primary.location"):
        Plan.model_validate(sandbox_plan_data)


# --- secrets ---------------------------------------------------------------------------------

SECRET_CASES: list[tuple[str, Any, str]] = [
    ("primary.storage_account", ACCOUNT_KEY, "primary.storage_account"),
    ("replication.containers", [SAS], "replication.containers[0]"),
    (
        "pointer.key_vault_secret",
        f"DefaultEndpointsProtocol=https;AccountName=stfdreastus;AccountKey={ACCOUNT_KEY}",
        "pointer.key_vault_secret",
    ),
    (
        "deployments.smoke_test.sample_request",
        {"headers": {"auth": f"Bearer {JWT}"}},
        "deployments.smoke_test.sample_request.headers.auth",
    ),
    ("primary.client_secret", "s3cr3t-value-123", "primary.client_secret"),
    (
        "connections[0].secondary",
        "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessSignature=abc",
        "connections[0].secondary",
    ),
]


@pytest.mark.parametrize(("path", "value", "reported"), SECRET_CASES, ids=[c[2] for c in SECRET_CASES])
def test_secrets_are_refused_without_echoing_them(
    sandbox_plan_data: dict[str, Any], path: str, value: Any, reported: str
) -> None:
    with pytest.raises(PlanError) as info:
        validate_plan(mutate(sandbox_plan_data, path, value))
    lines = [p for p in info.value.problems if p.startswith(f"{reported}: ")]
    assert lines and "secrets never go in a plan" in lines[0], info.value.problems
    assert "azure-identity" in lines[0]
    for fragment in (ACCOUNT_KEY[:20], "sig=AbCdEf", JWT[:30], "s3cr3t"):
        assert fragment not in str(info.value)


# --- loading files ---------------------------------------------------------------------------


def _single_line(path: Path) -> str:
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert len(info.value.problems) == 1, info.value.problems
    line = info.value.problems[0]
    assert "\n" not in line and line.startswith(str(path))
    return line


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _single_line(tmp_path / "nope.yaml")


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in _single_line(tmp_path)


def test_not_yaml(write_plan: Any) -> None:
    assert "not valid YAML" in _single_line(write_plan("name: [unclosed\n  cloud: {\n"))


def test_not_a_mapping(write_plan: Any) -> None:
    assert "expected a YAML mapping" in _single_line(write_plan("- just\n- a list\n"))


def test_empty_file(write_plan: Any) -> None:
    assert "empty file" in _single_line(write_plan(""))


def test_huge_file(write_plan: Any) -> None:
    line = _single_line(write_plan("# padding\n" * (MAX_PLAN_BYTES // 10 + 10)))
    assert "1 MiB" in line


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in _single_line(path)


@pytest.mark.timeout(10)
def test_alias_bomb_is_refused_before_expansion(write_plan: Any) -> None:
    bomb = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    bomb += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    assert "anchors and aliases" in _single_line(write_plan("\n".join(bomb) + "\n"))


def test_any_alias_is_refused(sandbox_plan_path: Path, write_plan: Any) -> None:
    text = sandbox_plan_path.read_text().replace(
        "projects: [proj-chat, proj-vision]", "projects: &p [proj-chat]", 1
    )
    text = text.replace("projects: [proj-chat, proj-vision]", "projects: *p", 1)
    assert "anchors and aliases" in _single_line(write_plan(text))


def test_duplicate_keys_are_refused(sandbox_plan_path: Path, write_plan: Any) -> None:
    text = sandbox_plan_path.read_text() + "name: other-plan\n"
    assert "duplicate key 'name'" in _single_line(write_plan(text))


def test_validation_problems_name_the_file(write_plan: Any, sandbox_plan_data: dict[str, Any]) -> None:
    path = write_plan(mutate(sandbox_plan_data, "cloud", "Azure"))
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value) and "cloud: " in str(info.value)


# --- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sandbox.yaml", "example-azure.yaml"])
def test_json_schema_accepts_the_shipped_plans(sandbox_plan_path: Path, name: str) -> None:
    schema = plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(
        yaml.safe_load((sandbox_plan_path.parent / name).read_text())
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [("primary.storage_account", "Not-Valid"), ("strategy.default", "warm"), ("primary.hubb", "x")],
)
def test_json_schema_rejects_bad_plans(sandbox_plan_data: dict[str, Any], path: str, value: Any) -> None:
    validator = jsonschema.Draft202012Validator(plan_json_schema())
    assert list(validator.iter_errors(mutate(sandbox_plan_data, path, value)))


def test_json_schema_carries_descriptions() -> None:
    schema = plan_json_schema()
    side = schema["$defs"]["Site"]
    assert side["additionalProperties"] is False
    assert "default storage account" in side["properties"]["storage_account"]["description"]
    assert "cut-over" in schema["$defs"]["Approvals"]["properties"]


# --- live connection check -------------------------------------------------------------------


def test_check_connection_mapping(example_plan_path: Path) -> None:
    plan = load_plan(example_plan_path)
    assert check_connection_mapping(plan, ["aoai-eus2", "search-eus2"], ["aoai-cus", "search-cus"]) == []
    problems = check_connection_mapping(plan, ["aoai-eus2", "search-eus2", "x"], ["aoai-cus"])
    assert problems == ["connections[1].secondary: 'search-cus' does not exist in the secondary hub"]
    assert check_connection_mapping(plan, [], ["aoai-cus", "search-cus"]) == [
        "connections[0].primary: 'aoai-eus2' does not exist in the primary hub",
        "connections[1].primary: 'search-eus2' does not exist in the primary hub",
    ]


# --- --set overrides -------------------------------------------------------------------------


def test_overrides_apply_and_revalidate(sandbox_plan_path: Path) -> None:
    plan = load_plan(sandbox_plan_path)
    new = apply_overrides(
        plan,
        [
            "replication.concurrency=4",
            "connections[0].secondary=aoai-westus2",
            "approvals.cut-over=auto",
            "primary.projects=[proj-chat]",
            "deployments.smoke_test.sample_request.input=hello",
        ],
    )
    assert new.replication.concurrency == 4
    assert new.connections[0].secondary == "aoai-westus2"
    assert not new.approvals.is_required("cut-over")
    assert new.primary.projects == ["proj-chat"]
    assert new.deployments.smoke_test.sample_request == {"input": "hello"}
    assert plan.replication.concurrency == 16  # the original is untouched


def test_renaming_the_plan_rederives_the_pointer_variable(sandbox_plan_path: Path) -> None:
    new = apply_overrides(load_plan(sandbox_plan_path), ["name=contoso-drill"])
    assert new.pointer.prefect_variable == "foundry_dr_active_hub_contoso_drill"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("replication.concurrency", "expected KEY=VALUE"),
        ("=8", "empty key"),
        ("primary..hub=x", "malformed key"),
        ("primary.hubb=x", "unknown setting 'primary.hubb' (did you mean 'primary.hub'?)"),
        ("nothing.here=1", "unknown setting 'nothing'"),
        ("name.first=x", "unknown setting 'name.first'"),
        ("connections[5].primary=x", "index out of range"),
        ("replication.containers=[unclosed", "not valid YAML"),
    ],
)
def test_malformed_overrides_name_the_setting(sandbox_plan_path: Path, override: str, expected: str) -> None:
    with pytest.raises(PlanError) as info:
        apply_overrides(load_plan(sandbox_plan_path), [override])
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"--set {override!r}")
    assert expected in info.value.problems[0]


def test_override_with_a_bad_value_reports_the_field(sandbox_plan_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        apply_overrides(
            load_plan(sandbox_plan_path), ["replication.concurrency=0", "secondary.location=eastus"]
        )
    assert paths_of(info.value.problems) == {"replication.concurrency", "secondary.location"}
