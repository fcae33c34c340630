"""A job is submitted with its references resolved: code, environment, compute and inputs must exist
in its workspace (what makes a resubmission in the other region fail if its assets were not copied)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm_harness import arm  # noqa: F401  (the fixture hub needs)
from test_ml_provider import Hub, hub  # noqa: F401  (the fixture, by its name)

pytestmark = pytest.mark.integration
API = "2024-04-01"


def _environment(h: Hub) -> str:
    """An environment version of the project to run on (``environmentId`` is required)."""
    rid = f"{h.ws_id(h.project)}/environments/run-env/versions/1"
    h.arm.client(ResourceManagementClient).resources.begin_create_or_update_by_id(
        rid, {"properties": {"image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"}}, api_version=API
    ).result()
    return rid


def _submit(h: Hub, name: str, **props: object) -> dict:
    rc = h.arm.client(ResourceManagementClient)
    body = {"properties": {"jobType": "Command", "command": "python train.py", "environmentId": _environment(h),
                           **props}}  # fmt: skip
    return rc.resources.begin_create_or_update_by_id(f"{h.ws_id(h.project)}/jobs/{name}", body,
                                                     api_version=API).result().as_dict()  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("codeId", "{ws}/codes/missing/versions/1", "CodeNotFound"),
        ("environmentId", "{ws}/environments/missing/versions/1", "EnvironmentNotFound"),
        ("computeId", "{ws}/computes/missing", "ComputeNotFound"),
        ("inputs", {"data": {"jobInputType": "uri_folder", "uri": "azureml:{ws}/data/missing/versions/1"}},
         "AssetNotFound"),
        ("inputs", {"raw": {"jobInputType": "uri_folder", "uri": "azureml://datastores/nostore/paths/raw/"}},
         "AssetNotFound"),
    ],
)
def test_a_job_naming_what_its_workspace_lacks_is_refused(hub: Hub, field: str, value: object, code: str) -> None:  # noqa: F811
    ws = hub.ws_id(hub.project)
    filled = value.replace("{ws}", ws) if isinstance(value, str) else {
        k: {**v, "uri": v["uri"].replace("{ws}", ws)} for k, v in value.items()  # type: ignore[union-attr]
    }
    with pytest.raises(HttpResponseError) as err:
        _submit(hub, f"refused-{code.lower()}", **{field: filled})
    assert err.value.status_code == 404 and err.value.error.code == code


def test_a_job_whose_references_resolve_is_accepted(hub: Hub) -> None:  # noqa: F811
    ws = hub.ws_id(hub.project)
    rc = hub.arm.client(ResourceManagementClient)
    rc.resources.begin_create_or_update_by_id(
        f"{ws}/codes/src/versions/1", {"properties": {"codeUri": "https://acct.blob.core.windows.net/c/src"}},
        api_version=API,
    ).result()
    doc = _submit(hub, "accepted", codeId=f"{ws}/codes/src/versions/1",
                  inputs={"epochs": {"jobInputType": "literal", "value": "3"},
                          "raw": {"jobInputType": "uri_folder",
                                  "uri": "azureml://datastores/workspaceblobstore/paths/raw/"}})  # fmt: skip
    assert doc["properties"]["codeId"].endswith("/codes/src/versions/1")
