"""The ML provider's storage side (issue 16, defect 2): each workspace's default container exists in
Azurite, and a model version whose path holds no blob is refused, through the real SDKs.

- Azure creates ``workspaceblobstore`` and its container with the workspace (a project's
  ``<workspaceId>-azureml-blobstore``, a hub's ``azureml-blobstore-<workspaceId>``).
- Azure refuses a model version whose path holds no blob: 400 with the detail
  ``ModelAssetPathNotFoundInStorage`` (MicrosoftDocs/azure-docs#103778). The sandbox checks it when
  the ``asset_path_check`` setting is on; data versions are not checked (no source says Azure does).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from azure.ai.ml import MLClient
from azure.ai.ml.entities import Data, Model
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.blob import BlobServiceClient
from sandbox_arm_harness import Arm, arm  # noqa: F401  (fixture)

from foundry_dr_sandbox.config import CLOUD_NAME

pytestmark = pytest.mark.integration

MLS = "Microsoft.MachineLearningServices/workspaces"
WS_API = "2024-10-01"
DEFAULT = "azureml://datastores/workspaceblobstore/paths"


@dataclass
class Workspaces:
    arm: Arm
    rg: str
    hub: str
    project: str

    def ml(self, workspace: str) -> MLClient:
        return MLClient(self.arm.credential(), self.arm.subscription, self.rg, workspace, cloud=CLOUD_NAME,
                        cloud_metadata=self.arm.config.cloud_metadata(), connection_verify=self.arm.ca)  # fmt: skip

    def blobs(self, account: str) -> BlobServiceClient:
        key = self.arm.config.storage_accounts[account].key
        return BlobServiceClient(self.arm.config.blob_endpoint(account),
                                 credential={"account_name": account, "account_key": key})  # fmt: skip


def _put_workspace(sb: Arm, rg: str, name: str, kind: str, **props: object) -> dict:
    rid = f"/subscriptions/{sb.subscription}/resourceGroups/{rg}/providers/{MLS}/{name}"
    body = {"location": "eastus", "kind": kind, "identity": {"type": "SystemAssigned"},
            "properties": {"friendlyName": name, **props}}  # fmt: skip
    return sb.client(ResourceManagementClient).resources.begin_create_or_update_by_id(
        rid, body, api_version=WS_API).result().as_dict()  # fmt: skip


@pytest.fixture(scope="module")
def workspaces(arm: Arm) -> Iterator[Workspaces]:  # noqa: F811
    rg = f"rg-mlst-{uuid.uuid4().hex[:6]}"
    arm.client(ResourceManagementClient).resource_groups.create_or_update(rg, {"location": "eastus"})
    hub, project = f"hub-{rg}", f"proj-{rg}"
    _put_workspace(arm, rg, hub, "Hub")
    hub_id = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/{MLS}/{hub}"
    _put_workspace(arm, rg, project, "Project", hubResourceId=hub_id)
    yield Workspaces(arm, rg, hub, project)


@pytest.fixture
def path_check(arm: Arm) -> Iterator[None]:  # noqa: F811
    arm.control("PUT", "/settings", {"asset_path_check": True})
    try:
        yield
    finally:
        arm.control("PUT", "/settings", {"asset_path_check": False})


def test_every_workspace_default_container_is_created_with_it(workspaces: Workspaces) -> None:
    for name, kind in ((workspaces.hub, "Hub"), (workspaces.project, "Project")):
        ml = workspaces.ml(name)
        default = ml.datastores.get_default()
        assert default.name == "workspaceblobstore"
        container = default.container_name
        if kind == "Project":
            assert container.endswith("-azureml-blobstore"), container
        else:
            assert container.startswith("azureml-blobstore-"), container
        cc = workspaces.blobs(default.account_name).get_container_client(container)
        assert cc.exists(), f"{kind} {name}: its default container {default.account_name}/{container} was not created"


def test_a_model_version_whose_path_holds_no_blob_is_refused(workspaces: Workspaces, path_check: None) -> None:
    ml = workspaces.ml(workspaces.project)
    with pytest.raises(HttpResponseError) as err:
        ml.models.create_or_update(Model(name="empty-path", version="1", path=f"{DEFAULT}/models/nothing/1/"))
    assert err.value.status_code == 400
    assert "ModelAssetPathNotFoundInStorage" in str(err.value)

    # once a blob is there, the same version registers
    default = ml.datastores.get_default()
    cc = workspaces.blobs(default.account_name).get_container_client(default.container_name)
    cc.upload_blob("models/something/1/model.json", b"{}", overwrite=True)
    ml.models.create_or_update(Model(name="full-path", version="1", path=f"{DEFAULT}/models/something/1/"))

    # the long form names the workspace; a blob URL names the account (both resolved the same way)
    long_form = (f"azureml://subscriptions/{workspaces.arm.subscription}/resourcegroups/{workspaces.rg}/"
                 f"workspaces/{workspaces.project}/datastores/workspaceblobstore/paths/models/missing/")  # fmt: skip
    with pytest.raises(HttpResponseError) as err:
        ml.models.create_or_update(Model(name="long-form", version="1", path=long_form))
    assert "ModelAssetPathNotFoundInStorage" in str(err.value)
    url = f"https://{default.account_name}.blob.core.windows.net/{default.container_name}/models/missing-too/"
    with pytest.raises(HttpResponseError) as err:
        ml.models.create_or_update(Model(name="blob-url", version="1", path=url))
    assert "ModelAssetPathNotFoundInStorage" in str(err.value)

    # data versions are not checked: no source says Azure refuses them
    ml.data.create_or_update(Data(name="empty-data", version="1", type="uri_folder",
                                  path=f"{DEFAULT}/data/nothing/"))  # fmt: skip
