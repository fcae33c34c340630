"""Reading a what-if as ARM means it: every change type of the spec, NoEffect noise, failures."""

from __future__ import annotations

import pytest

from foundry_dr.what_if import CHANGE_TYPES, classify, effective_paths, failure, needs_approval, summarize


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
