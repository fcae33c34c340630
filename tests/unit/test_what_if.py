"""Reading a what-if as ARM means it: every change type of the spec, NoEffect noise, failures."""

from __future__ import annotations

import pytest

from foundry_dr.what_if import CHANGE_TYPES, classify, effective_paths, failure, needs_approval, noise_paths, summarize


def change(kind: str, *delta: tuple[str, str], **extra: object) -> dict:
    return {"resource_id": f"/x/{kind}", "change_type": kind,
            "delta": [{"path": p, "propertyChangeType": t} for p, t in delta] or None, **extra}  # fmt: skip


def test_spec_change_types() -> None:
    # Microsoft.Resources deployments spec, ChangeType
    assert {"Create", "Delete", "Ignore", "Deploy", "NoChange", "Modify", "Unsupported"} == CHANGE_TYPES


@pytest.mark.parametrize(("kind", "approve"), [
    ("Create", True), ("Delete", True), ("Deploy", True), ("Modify", True), ("Unsupported", True),
    ("NoChange", False), ("Ignore", False),
])  # fmt: skip
def test_what_needs_approval(kind: str, approve: bool) -> None:
    delta = [("properties.friendlyName", "Modify")] if kind == "Modify" else []
    assert needs_approval([change(kind, *delta)]) is approve


def test_a_modify_of_no_effect_properties_only_is_noise() -> None:
    noisy = change("Modify", ("properties.workspaceId", "NoEffect"), ("properties.provisioningState", "NoEffect"))
    assert classify(noisy) == "NoChange" and not needs_approval([noisy])
    real = change("Modify", ("properties.workspaceId", "NoEffect"), ("tags.env", "Modify"))
    assert classify(real) == "Modify" and effective_paths(real["delta"]) == ["tags.env"]
    assert summarize([noisy, real, change("Create")]) == {"NoChange": 1, "Modify": 1, "Create": 1}


def test_array_changes_open_their_children() -> None:
    delta = [{"path": "properties.rules", "propertyChangeType": "Array", "children": [
        {"path": "[0]", "propertyChangeType": "NoEffect"}, {"path": "[1]", "propertyChangeType": "Create"}]}]
    assert effective_paths(delta) == ["properties.rules[1]"]
    only_noise = [{"path": "properties.rules", "propertyChangeType": "Array",
                   "children": [{"path": "[0]", "propertyChangeType": "NoEffect"}]}]  # fmt: skip
    assert classify({"change_type": "Modify", "delta": only_noise}) == "NoChange"


def test_a_failed_what_if_is_a_failure_never_no_changes() -> None:
    assert failure("Succeeded", None) is None
    assert "status Failed" in failure("Failed", None)
    why = failure("Failed", {"code": "InvalidTemplate", "message": "bad",
                             "details": [{"code": "X", "message": "y"}]})  # fmt: skip
    assert why == "InvalidTemplate: bad (X: y)"


def test_a_modify_of_defaulted_properties_only_is_noise() -> None:
    # Azure/arm-template-whatif#275: a no-op redeploy of a registry shows RP defaults as Deletes
    noisy = change("Modify", ("properties.dataEndpointEnabled", "Delete"), ("properties.encryption", "Delete"),
                   ("properties.loginServer", "NoEffect"))  # fmt: skip
    assert classify(noisy) == "NoChange" and not needs_approval([noisy])
    assert noise_paths(noisy["delta"]) == ["properties.dataEndpointEnabled", "properties.encryption",
                                           "properties.loginServer"]  # fmt: skip
    mixed = change("Modify", ("properties.encryption", "Delete"), ("sku.name", "Modify"))
    assert classify(mixed) == "Modify" and effective_paths(mixed["delta"]) == ["sku.name"]


def test_a_delete_inside_an_array_the_template_sets_is_a_real_removal() -> None:
    delta = [{"path": "properties.managedNetwork.outboundRules", "propertyChangeType": "Array",
              "children": [{"path": "[1]", "propertyChangeType": "Delete"}]}]  # fmt: skip
    assert effective_paths(delta) == ["properties.managedNetwork.outboundRules[1]"]
    assert needs_approval([{"change_type": "Modify", "delta": delta}])


def test_a_dropped_tag_is_a_real_change() -> None:
    # the what-if doc's example: "- tags.Owner: "Team A"" when the template no longer sets it
    dropped = change("Modify", ("tags.Owner", "Delete"), ("properties.encryption", "Delete"))
    assert classify(dropped) == "Modify" and effective_paths(dropped["delta"]) == ["tags.Owner"]
