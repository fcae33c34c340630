"""The conformance corpus itself: every listed operation has an official example kept, each
fixture parses, says where it came from, and is the example of the operation it is listed for."""

from __future__ import annotations

import re

import pytest
from azure_operations import FIXTURES, OPERATIONS, load

SPECS = "Azure/azure-rest-api-specs"
KEPT = sorted(p.name for p in FIXTURES.glob("*.json"))


def _cases() -> list:
    out = []
    for op, entry in OPERATIONS.items():
        marks = (
            []
            if entry.fixture
            else [
                pytest.mark.xfail(strict=True, reason=f"corpus gap: no official example kept yet for {op[0]} {op[1]}")
            ]
        )
        out.append(pytest.param(op, entry, id=f"{op[0]} {op[1]}", marks=marks))
    return out


@pytest.mark.parametrize(("op", "entry"), _cases())
def test_every_operation_has_its_example(op: tuple[str, str], entry) -> None:
    assert entry.fixture, f"{op} has no fixture in tests/fixtures/azure_specs"
    assert (FIXTURES / entry.fixture).is_file(), entry.fixture


@pytest.mark.parametrize("name", KEPT)
def test_fixture_parses_and_records_its_source(name: str) -> None:
    doc = load(name)
    source = doc["_source"]
    assert source["repo"] == SPECS
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), source
    assert re.fullmatch(r"specification/[^/]+/resource-manager/.+/examples/.+\.json", source["path"]), source
    version = doc["parameters"]["api-version"]
    assert version in source["path"], (version, source["path"])  # the example of the version it says
    assert version in name, (version, name)
    # a 2xx with a body, or a long-running POST's 202 naming where to poll (importImage)
    assert any(str(code).startswith("2") and ("body" in r or "Location" in r.get("headers", {}))
               for code, r in doc["responses"].items())  # fmt: skip


def test_every_fixture_is_listed_for_an_operation() -> None:
    listed = {e.fixture for e in OPERATIONS.values() if e.fixture}
    assert set(KEPT) == listed, set(KEPT) ^ listed


@pytest.mark.parametrize(
    ("op", "path"),
    [
        (("GET", "Microsoft.MachineLearningServices/workspaces/computes"),
         "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/computes/c"),
        (("POST", "Microsoft.Resources/deployments/whatIf"),
         "/subscriptions/s/resourcegroups/g/providers/Microsoft.Resources/deployments/d/whatIf?api-version=x"),
        (("GET", "Microsoft.MachineLearningServices/locations/usages"),
         "/subscriptions/s/providers/Microsoft.MachineLearningServices/locations/eastus/usages"),
        (("HEAD", "resourceGroups"), "/subscriptions/s/resourcegroups/g"),
        (None, "/tenant/oauth2/v2.0/token"),
    ],
)  # fmt: skip
def test_operation_of_a_request_path(op, path: str) -> None:
    from azure_operations import operation_of

    assert operation_of(op[0] if op else "GET", path) == op
