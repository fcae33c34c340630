"""The contract check reads a body with the REST model of the api-version it was sent with (issue 15).

No sandbox process: the engine over a temporary store, as the ARM front calls it. Each case is
a body ARM would refuse for that version (or accept), from the models kept in
``sandbox/arm/core/schemas`` (extracted from the AutoRest-generated models of each version).
"""

from __future__ import annotations

import pytest

from foundry_dr_sandbox.arm.core.engine import Engine
from foundry_dr_sandbox.arm.core.errors import ArmError
from foundry_dr_sandbox.arm.core.store import Store
from foundry_dr_sandbox.arm.providers import load_providers
from foundry_dr_sandbox.config import SandboxConfig

MLS = "Microsoft.MachineLearningServices"
DEPLOYMENT = f"{MLS}/workspaces/onlineEndpoints/deployments"
MANAGED = {"endpointComputeType": "Managed", "model": "azureml:m:1", "instanceType": "Standard_DS3_v2",
           "scaleSettings": {"scaleType": "Default"}}  # fmt: skip


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    directory = tmp_path_factory.mktemp("contract")
    return Engine(SandboxConfig.new(directory), Store(directory / "state.sqlite"), load_providers())


def _refused(engine: Engine, full_type: str, version: str, body: dict) -> ArmError:
    with pytest.raises(ArmError) as caught:
        engine.check_contract(full_type, version, body)
    return caught.value


def test_a_valid_body_is_accepted(engine: Engine) -> None:
    engine.check_contract(DEPLOYMENT, "2023-04-01-preview", {"location": "eastus", "properties": MANAGED})


def test_an_api_version_without_a_model_is_refused_as_arm_does(engine: Engine) -> None:
    err = _refused(engine, DEPLOYMENT, "2019-01-01", {"location": "eastus", "properties": MANAGED})
    assert (err.status, err.code) == (400, "NoRegisteredProviderFound")
    assert "API version '2019-01-01' for type 'workspaces/onlineEndpoints/deployments'" in err.message
    assert "2023-04-01-preview" in err.message  # the supported api-versions are listed


def test_a_read_only_property_is_found_and_ignored(engine: Engine) -> None:
    # the service ignores read-only properties (what-if docs, NoEffect): found, reported, not refused
    body = {"location": "eastus", "properties": {**MANAGED, "provisioningState": "Succeeded"}}
    assert engine.check_contract(DEPLOYMENT, "2023-04-01-preview", body) == ["properties.provisioningState"]
    assert engine.check_contract(DEPLOYMENT, "2023-04-01-preview", {"location": "eastus", "properties": MANAGED}) == []


def test_an_unknown_enum_value_is_refused(engine: Engine) -> None:
    body = {"location": "eastus", "properties": {**MANAGED, "egressPublicNetworkAccess": "Sometimes"}}
    err = _refused(engine, DEPLOYMENT, "2023-04-01-preview", body)
    assert "egressPublicNetworkAccess' value 'Sometimes'" in err.message
    ok = {"location": "eastus", "properties": {**MANAGED, "egressPublicNetworkAccess": "disabled"}}
    engine.check_contract(DEPLOYMENT, "2023-04-01-preview", ok)  # enum values are read case-insensitively


def test_an_unknown_discriminator_value_is_refused(engine: Engine) -> None:
    body = {"location": "eastus", "properties": {**MANAGED, "endpointComputeType": "Serverless"}}
    assert "endpointComputeType' value 'Serverless'" in _refused(engine, DEPLOYMENT, "2023-04-01-preview", body).message


def test_a_missing_required_property_is_refused(engine: Engine) -> None:
    assert "Required property 'location'" in _refused(engine, DEPLOYMENT, "2023-04-01-preview",
                                                      {"properties": MANAGED}).message  # fmt: skip


def test_the_model_is_the_one_of_the_version_sent(engine: Engine) -> None:
    # properties.ipAllowlist is a list of strings in the 2024-01-01-preview workspace model; in
    # 2023-04-01-preview's it does not exist, so a wrong type passes there (unknown members are ignored)
    body = {"location": "eastus", "properties": {"ipAllowlist": "10.0.0.0/24"}}
    assert "ipAllowlist' must be an array" in _refused(engine, f"{MLS}/workspaces", "2024-01-01-preview",
                                                        body).message  # fmt: skip
    engine.check_contract(f"{MLS}/workspaces", "2023-04-01-preview", body)
    # a member the version declares is still type-checked
    wrong = {"location": "eastus", "properties": {**MANAGED, "appInsightsEnabled": "yes"}}
    assert "must be of type" in _refused(engine, DEPLOYMENT, "2023-04-01-preview", wrong).message


def test_computes_are_checked(engine: Engine) -> None:
    computes = f"{MLS}/workspaces/computes"
    instance = {"computeType": "ComputeInstance", "properties": {"vmSize": "STANDARD_DS3_V2", "enableRootAccess": True}}
    engine.check_contract(computes, "2023-08-01-preview", {"location": "eastus", "properties": instance})
    bad = {"location": "eastus", "properties": {**instance, "computeType": "Mainframe"}}
    assert "computeType' value 'Mainframe'" in _refused(engine, computes, "2023-08-01-preview", bad).message
    wrong = {"location": "eastus", "properties": {"computeType": "AmlCompute", "properties": {"vmPriority": "Cheap"}}}
    assert "vmPriority' value 'Cheap'" in _refused(engine, computes, "2023-08-01-preview", wrong).message


def _example_requests() -> list:
    from azure_operations import OPERATIONS, load

    out = []
    for (method, op), entry in OPERATIONS.items():
        if method == "PUT" and entry.fixture and "body" in load(entry.fixture)["parameters"]:
            out.append(pytest.param(f"{op.split('/', 1)[0]}/{op.split('/', 1)[1]}", entry.fixture, id=entry.fixture))
    return out


@pytest.mark.parametrize(("full_type", "fixture"), _example_requests())
def test_every_official_example_request_passes_the_check_of_its_version(engine: Engine, full_type: str,
                                                                        fixture: str) -> None:  # fmt: skip
    """The sandbox is never stricter than Azure's own examples: each kept create example's request
    body is accepted by the contract check of the example's api-version."""
    from azure_operations import load

    params = load(fixture)["parameters"]
    assert engine.check_contract(full_type, params["api-version"], params["body"]) == []
