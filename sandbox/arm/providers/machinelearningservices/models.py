"""Microsoft.MachineLearningServices: workspaces, assets, datastores and connections.

Rules kept here are the RP's, as the runbooks meet them: a project names an existing hub in
its region, a hub with projects cannot be deleted, asset versions are immutable (save the
fields the RP lets change), a version PUT creates its container, secrets never come back
from GET (only from ``listSecrets`` / ``listsecrets``).
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from foundry_dr_sandbox import azurite
from foundry_dr_sandbox.arm.core.api_versions import VersionedModel
from foundry_dr_sandbox.arm.core.errors import ArmError, conflict
from foundry_dr_sandbox.arm.core.provider import Existing, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.machinelearningservices import responses
from foundry_dr_sandbox.arm.providers.machinelearningservices.common import (
    NS,
    WORKSPACES,
    bad_request,
    base_doc,
    body_of,
    filter_archived,
    new_guid,
    props_of,
    put_child,
    region_of,
    same_id,
    workspace_id_of,
)

if TYPE_CHECKING:
    from foundry_dr_sandbox.arm.core.engine import Engine

KINDS = {"default": "Default", "hub": "Hub", "project": "Project", "featurestore": "FeatureStore"}
DATASTORES = f"{WORKSPACES}/datastores"


def _rest_model(name: str) -> type | None:
    """The SDK's REST model class for a request body (contract check), if it can be imported."""
    try:
        from azure.ai.ml._restclient.arm_ml_service import models as rest
    except ImportError:  # pragma: no cover - the sandbox runs with azure-ai-ml installed
        return None
    return getattr(rest, name, None)


# The api-version azure-ai-ml 1.35.2's own models (arm_ml_service) were generated from.
SDK_API_VERSION = "2025-12-01"
# Stable 2024-04-01 and 2024-10-01 have no generated Python models on PyPI (azure-ai-ml ships
# previews and 2025-12-01; azure-mgmt-machinelearningservices stops at 2020-08-01): each is
# checked with the models of the preview of the same date, the one it was released from (their
# swagger: specification/machinelearningservices/resource-manager/Microsoft.MachineLearningServices/
# stable/2024-04-01 and stable/2024-10-01). A preview may declare more than its stable release.
STAND_INS = {"2024-04-01": "2024-04-01-preview", "2024-10-01": "2024-10-01-preview"}


def _versioned(name: str) -> VersionedModel:
    """``name``'s REST model per api-version: the SDK's own set, or one kept in arm/core/schemas (mls-*).

    Members a version does not declare are dropped, not refused: azure-ai-ml 1.35.2, the official
    SDK, serializes with its 2025-12-01 models and sends them at older versions (ModelVersion
    ``properties.datasets`` at 2023-08-01-preview, whose models, like every kept one before
    2025-12-01, lack it): were Azure ML to refuse unknown members, ``ml_client.models.create_or_update``
    would fail for everyone. ARM's what-if team says the same of RPs at large ("most RPs will
    silently drop properties it does not know about", Azure/arm-template-whatif#96). Types, enum
    values, read-only and required properties are still checked."""
    return VersionedModel(name, "mls", lambda: _rest_model(name), SDK_API_VERSION, STAND_INS, ignore_unknown=True)


# ---- workspaces ---------------------------------------------------------------------------
def _check_identity(identity: dict | None, props: dict) -> None:
    """A user-assigned identity must name its identities (ManagedServiceIdentity, common types v5:
    ``userAssignedIdentities`` is "the set of user assigned identities associated with the
    resource"), and a workspace using one needs ``primaryUserAssignedIdentity`` among them (Azure ML
    docs, "Set up authentication between Azure Machine Learning and other services": a workspace
    with a user-assigned identity names it as its primary). Error codes are not documented: 400
    BadRequest here is an assumption."""
    kind = str((identity or {}).get("type") or "")
    if "userassigned" not in kind.lower().replace(" ", "").replace(",", ""):
        return
    assigned = {k.lower() for k in ((identity or {}).get("userAssignedIdentities") or {})}
    if not assigned:
        raise bad_request(f"identity type '{kind}' needs 'identity.userAssignedIdentities'.")
    primary = str(props.get("primaryUserAssignedIdentity") or "").lower()
    if not primary or primary not in assigned:
        raise bad_request("a workspace with a user-assigned identity needs 'properties.primaryUserAssignedIdentity' "
                          "naming one of its identity.userAssignedIdentities.")  # fmt: skip


class WorkspaceType(ResourceType):
    type_name = WORKSPACES
    lro_put = True
    rest_model = _rest_model("Workspace")
    versioned = _versioned("Workspace")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = body_of(req)
        given = props_of(body)
        kind = KINDS.get(
            str(body.get("kind") or (existing.doc.get("kind") if existing else "Default")).lower()
        )
        if kind is None:
            raise bad_request(
                f"Workspace kind '{body.get('kind')}' is not supported.", "InvalidWorkspaceKind"
            )
        if existing and existing.doc.get("kind") != kind:
            raise bad_request(
                f"The kind of workspace '{req.path.names[-1]}' cannot change from "
                f"'{existing.doc.get('kind')}' to '{kind}'."
            )
        _check_identity(body.get("identity"), {**(existing.doc.get("properties", {}) if existing else {}), **given})
        doc = base_doc(body, existing)
        doc["kind"] = kind
        location = doc.get("location")
        meta = dict(existing.meta) if existing else {"workspace_id": new_guid(), "principal_id": new_guid()}
        if existing:
            given = {**existing.doc.get("properties", {}), **given}
        if kind == "Project":
            hub_id = given.get("hubResourceId")
            hub = engine.load(hub_id) if isinstance(hub_id, str) and hub_id else None
            if hub is None or hub.doc.get("kind") != "Hub":
                raise bad_request(
                    f"A Project workspace needs properties.hubResourceId naming an existing Hub "
                    f"workspace; '{hub_id}' is not one.",
                    "InvalidHubResourceId",
                )
            if location and hub.doc.get("location") and location != hub.doc["location"]:
                raise bad_request(
                    f"A project must be in the region of its hub: the hub '{hub.doc['name']}' is in "
                    f"'{hub.doc['location']}', the project asks for '{location}'."
                )
            hp = hub.doc.get("properties", {})
            for k in ("storageAccount", "keyVault", "applicationInsights", "containerRegistry"):
                given[k] = hp.get(k)  # projects use their hub's associated resources
            given["hubResourceId"] = hub.doc["id"]
        elif "storageAccount" not in given:
            account = _sandbox_account(engine, location)
            if account:
                sub, rg = req.path.subscription, req.path.resource_group
                given["storageAccount"] = (
                    f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                    f"Microsoft.Storage/storageAccounts/{account}"
                )
        given.pop("provisioningState", None)
        rid = req.path.resource_id
        doc["properties"] = responses.workspace_properties(
            rid,
            location or "eastus",
            req.path.names[-1],
            meta["workspace_id"],
            engine.config.tenant_id,
            kind,
            given,
        )
        doc["identity"] = responses.workspace_identity(
            doc.get("identity"), meta["principal_id"], engine.config.tenant_id
        )
        doc.setdefault("sku", {"name": "Basic", "tier": "Basic"})
        doc.setdefault("tags", {})
        if not existing and kind in ("Default", "Hub", "Project"):
            self._default_datastore(engine, req, doc, meta)
        return doc, meta

    def _default_datastore(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        """``workspaceblobstore``, on the workspace's (or its hub's) storage account, as the RP makes it,
        and its blob container, which Azure provisions with the workspace.

        Source: "When you create a workspace, an Azure blob container and Azure file share are
        registered to the workspace with the names workspaceblobstore and workspacefilestore [...]
        the blob container and the file share that is provisioned in the storage account attached to
        the workspace. The workspaceblobstore is set as the default datastore" (Azure ML SDK
        reference, ``get_default_datastore``, azure.github.io/azureml-sdk-for-r/reference/
        get_default_datastore.html; learn.microsoft.com "Create datastores" names workspaceblobstore
        every workspace's default). A project's container is ``<workspaceId>-azureml-blobstore``, a
        hub's (or a Default workspace's) ``azureml-blobstore-<workspaceId>``. Without Azurite (the ARM
        app served alone) only the datastore is recorded."""
        account = str(doc["properties"].get("storageAccount") or "").rsplit("/", 1)[-1]
        if not account:
            return
        wid = meta["workspace_id"]
        container = f"{wid}-azureml-blobstore" if doc["kind"] == "Project" else f"azureml-blobstore-{wid}"
        rid = f"{req.path.resource_id}/datastores/workspaceblobstore"
        props = responses.datastore_properties(
            {
                "datastoreType": "AzureBlob",
                "accountName": account,
                "containerName": container,
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
                "subscriptionId": req.path.subscription,
                "resourceGroup": req.path.resource_group,
            }
        )
        region = doc.get("location")
        put_child(
            engine,
            rid,
            DATASTORES,
            {"properties": {**props, "provisioningState": "Succeeded"}},
            {"region": region},
            req.caller.client_id,
        )
        azurite.ensure_container(engine.config, account, container)

    def view(self, engine: Engine, doc: dict, meta: dict) -> dict:
        if doc.get("kind") != "Hub":
            return doc
        view = copy.deepcopy(doc)
        view["properties"]["associatedWorkspaces"] = [d["id"] for d in _projects_of(engine, doc["id"])]
        return view

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        projects = _projects_of(engine, doc["id"])
        if doc.get("kind") == "Hub" and projects:
            names = ", ".join(p["name"] for p in projects)
            raise conflict(
                f"Hub workspace '{doc['name']}' cannot be deleted while it has project workspaces "
                f"({names}). Delete the projects first."
            )

    def list_filter(
        self, engine: Engine, req: Request, items: list[tuple[dict, dict]]
    ) -> list[tuple[dict, dict]]:
        kind = req.query.get("kind")
        if kind:
            wanted = {k.strip().lower() for k in kind.split(",")}
            items = [(d, m) for d, m in items if str(d.get("kind", "")).lower() in wanted]
        return items


def _projects_of(engine: Engine, hub_id: str) -> list[dict]:
    sub = hub_id.split("/")[2]
    return [
        d
        for d, _ in engine.store.by_type(WORKSPACES, f"/subscriptions/{sub}")
        if d.get("kind") == "Project" and same_id(d.get("properties", {}).get("hubResourceId"), hub_id)
    ]


def _sandbox_account(engine: Engine, region: str | None) -> str | None:
    """The sandbox storage account of a region (its hub default account comes first)."""
    for name, acct in engine.config.storage_accounts.items():
        if acct.region == region:
            return name
    return None


def _workspace_list_keys(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    account = str(doc.get("properties", {}).get("storageAccount") or "").rsplit("/", 1)[-1]
    acct = engine.config.storage_accounts.get(account)
    return Reply(
        200,
        {
            "userStorageKey": acct.key if acct else None,
            "userStorageResourceId": doc.get("properties", {}).get("storageAccount"),
            "appInsightsInstrumentationKey": meta["workspace_id"],
            "containerRegistryCredentials": None,
            "notebookAccessKeys": None,
        },
    )


WorkspaceType.actions = {"listKeys": _workspace_list_keys}


# ---- assets: containers and versions --------------------------------------------------------
MUTABLE_VERSION_FIELDS = {"description", "tags", "stage", "isArchived", "provisioningState"}


def _version_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


class AssetContainerType(ResourceType):
    """``workspaces/{kind}/{name}``: latestVersion/nextVersion follow the versions below it."""

    def __init__(self, kind: str, rest_model: str | None) -> None:
        self.kind = kind
        self.type_name = f"{WORKSPACES}/{kind}"
        self.rest_model = _rest_model(rest_model) if rest_model else None
        self.versioned = _versioned(rest_model) if rest_model else None

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        given = props_of(body_of(req))
        for k in ("latestVersion", "nextVersion", "provisioningState"):
            given.pop(k, None)
        props = responses.asset_container_properties(given)
        props["provisioningState"] = "Succeeded"
        return {"properties": props}, dict(existing.meta) if existing else {}

    def view(self, engine: Engine, doc: dict, meta: dict) -> dict:
        versions = [d["name"] for d, _ in engine.store.children(doc["id"], f"{self.type_name}/versions")]
        view = copy.deepcopy(doc)
        props = view["properties"]
        props["latestVersion"] = versions[-1] if versions else None
        numeric = [int(v) for v in versions if v.isdigit()]
        props["nextVersion"] = str(max(numeric) + 1) if numeric else ("1" if not versions else None)
        return view

    def list_filter(
        self, engine: Engine, req: Request, items: list[tuple[dict, dict]]
    ) -> list[tuple[dict, dict]]:
        return _ordered(req, filter_archived(req, items))


class AssetVersionType(ResourceType):
    """``workspaces/{kind}/{name}/versions/{version}``: immutable content, container made on demand."""

    def __init__(self, kind: str, rest_model: str | None) -> None:
        self.kind = kind
        self.type_name = f"{WORKSPACES}/{kind}/versions"
        self.rest_model = _rest_model(rest_model) if rest_model else None
        self.versioned = _versioned(rest_model) if rest_model else None

    def before_put(self, engine: Engine, req: Request) -> None:
        container_id = req.path.parent_id
        if (
            engine.store.get(container_id) is None
            and engine.store.get(workspace_id_of(container_id)) is not None
        ):
            props = responses.asset_container_properties({})
            props["provisioningState"] = "Succeeded"
            put_child(
                engine,
                container_id,
                f"{WORKSPACES}/{self.kind}",
                {"properties": props},
                {"region": region_of(engine, workspace_id_of(container_id))},
                req.caller.client_id,
            )

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        given = props_of(body_of(req))
        given.pop("provisioningState", None)
        props = responses.asset_version_properties(self.kind, given)
        if existing:
            before = _content(existing.doc.get("properties", {}))
            after = _content(props)
            if before != after:
                changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
                label = "data" if self.kind == "data" else self.kind[:-1]
                raise conflict(
                    f"{label} version '{req.path.names[-2]}:{req.path.names[-1]}' already exists with "
                    f"different content ({', '.join(changed)}). Asset versions are immutable; only "
                    f"description, tags, stage and isArchived can be updated."
                )
        elif self.kind == "models" and asset_path_check(engine):
            _check_model_path(engine, req, props.get("modelUri"))
        props["provisioningState"] = "Succeeded"
        return {"properties": props}, dict(existing.meta) if existing else {}

    def list_filter(
        self, engine: Engine, req: Request, items: list[tuple[dict, dict]]
    ) -> list[tuple[dict, dict]]:
        return _ordered(req, filter_archived(req, items))


# ---- asset paths: a model version's blobs must exist ----------------------------------------------
# Azure refuses to register a model version whose path holds no blob: 400 BadRequest "The request is
# invalid." with the detail ModelAssetPathNotFoundInStorage "No blobs found in storage at model asset
# path: <path>" (the model registry's answer quoted in MicrosoftDocs/azure-docs#103778; the
# docs do not list the error). Only model versions are checked: no source was found that data
# versions are refused the same way. The check
# is the sandbox setting ``asset_path_check`` (control API ``PUT /_sandbox/settings``), off by default
# until every test that registers a model uploads its blobs first; without Azurite it checks nothing.
ASSET_PATH_CHECK_SETTING = "asset_path_check"
_AZUREML_PATH = re.compile(
    r"^azureml://(?:subscriptions/(?P<sub>[^/]+)/resource[gG]roups/(?P<rg>[^/]+)/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/(?P<ws>[^/]+)/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$",
    re.IGNORECASE,
)


def asset_path_check(engine: Engine) -> bool:
    return bool(engine.store.get_setting(ASSET_PATH_CHECK_SETTING, False))


def asset_location(engine: Engine, req: Request, uri: str | None) -> tuple[str, str, str] | None:
    """(account, container, blob prefix) behind an asset path: ``azureml://`` (short form: the
    request's workspace) naming a blob datastore, or a blob URL of a sandbox account; None otherwise
    (other schemes, unknown datastores or accounts: not checked)."""
    if not isinstance(uri, str) or not uri:
        return None
    m = _AZUREML_PATH.match(uri)
    if m:
        if m["ws"]:
            ws = (f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/"
                  f"Microsoft.MachineLearningServices/workspaces/{m['ws']}")  # fmt: skip
        else:
            ws = workspace_id_of(req.path.resource_id)
        found = engine.load(f"{ws}/datastores/{m['ds']}")
        props = (found.doc.get("properties") or {}) if found else {}
        account, container = props.get("accountName"), props.get("containerName")
        if not account or not container:
            return None
        return str(account), str(container), m["path"]
    url = urlsplit(uri)
    host = (url.hostname or "").lower()
    path = url.path.lstrip("/")
    if host.endswith(".blob.core.windows.net"):  # https://<account>.blob.core.windows.net/<container>/<path>
        account = host.split(".", 1)[0]
    elif host in ("127.0.0.1", "localhost") and "/" in path:  # the sandbox's http://127.0.0.1:<port>/<account>/...
        account, path = path.split("/", 1)
    else:
        return None
    container, _, prefix = path.partition("/")
    if account not in engine.config.storage_accounts or not container:
        return None
    return account, container, prefix


def _check_model_path(engine: Engine, req: Request, uri: str | None) -> None:
    where = asset_location(engine, req, uri)
    if where is None:
        return
    account, container, prefix = where
    if azurite.holds_blobs(engine.config, account, container, prefix) is False:
        raise ArmError(400, "BadRequest", "The request is invalid.", details=[{
            "code": "ModelAssetPathNotFoundInStorage",
            "message": f"No blobs found in storage at model asset path: {prefix}",
        }])  # fmt: skip


def _content(props: dict) -> dict:
    return {k: v for k, v in props.items() if k not in MUTABLE_VERSION_FIELDS and v not in (None, {}, [], "")}


def _ordered(req: Request, items: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """``$orderBy=createdtime desc`` (the SDK's "latest version" look-up); creation order otherwise."""
    order = (req.query.get("$orderBy") or req.query.get("$orderby") or "").lower()
    if "desc" in order:
        return list(reversed(items))
    return items


# ---- datastores ---------------------------------------------------------------------------
class DatastoreType(ResourceType):
    type_name = DATASTORES
    rest_model = _rest_model("Datastore")
    versioned = _versioned("Datastore")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        given = props_of(body_of(req))
        given.pop("provisioningState", None)
        meta = dict(existing.meta) if existing else {}
        creds = given.get("credentials") or {}
        if isinstance(creds, dict) and creds.get("secrets"):
            meta["secrets"] = creds["secrets"]
        props = responses.datastore_properties(given)
        props["provisioningState"] = "Succeeded"
        return {"properties": props}, meta


def _datastore_secrets(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    props = doc.get("properties", {})
    ctype = props.get("credentials", {}).get("credentialsType")
    stored = meta.get("secrets") or {}
    if ctype == "AccountKey":
        acct = engine.config.storage_accounts.get(props.get("accountName", ""))
        return Reply(200, {"secretsType": "AccountKey", "key": acct.key if acct else stored.get("key")})
    if ctype == "Sas":
        return Reply(200, {"secretsType": "Sas", "sasToken": stored.get("sasToken")})
    if ctype in ("ServicePrincipal", "Certificate"):
        return Reply(200, {**stored, "secretsType": ctype})
    raise bad_request(f"Datastore '{doc['name']}' has no secrets (credentials type {ctype}).", "UserError")


DatastoreType.actions = {"listSecrets": _datastore_secrets}


# ---- connections --------------------------------------------------------------------------
class ConnectionType(ResourceType):
    type_name = f"{WORKSPACES}/connections"
    create_status = 200  # the RP answers 200 only; azure-ai-ml refuses a 201
    rest_model = _rest_model("WorkspaceConnectionPropertiesV2BasicResource")
    versioned = _versioned("WorkspaceConnectionPropertiesV2BasicResource")

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        given = props_of(body_of(req))
        meta = dict(existing.meta) if existing else {}
        if "credentials" in given:
            meta["credentials"] = given["credentials"]
        given.pop("provisioningState", None)
        props = responses.connection_properties(given)
        props["createdByWorkspaceArmId"] = workspace_id_of(req.path.resource_id)
        return {"properties": props}, meta


def _connection_secrets(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    view = copy.deepcopy(doc)
    if meta.get("credentials") is not None:
        view["properties"]["credentials"] = meta["credentials"]
    return Reply(200, view)


ConnectionType.actions = {"listsecrets": _connection_secrets}


ASSET_REST_MODELS = {
    "models": ("ModelContainer", "ModelVersion"),
    "data": ("DataContainer", "DataVersionBase"),
    "environments": ("EnvironmentContainer", "EnvironmentVersion"),
    "components": ("ComponentContainer", "ComponentVersion"),
    "codes": ("CodeContainer", "CodeVersion"),
}


def asset_types() -> list[ResourceType]:
    out: list[ResourceType] = []
    for kind, (container_model, version_model) in ASSET_REST_MODELS.items():
        out.append(AssetContainerType(kind, container_model))
        out.append(AssetVersionType(kind, version_model))
    return out


__all__ = ["NS", "ConnectionType", "DatastoreType", "WorkspaceType", "asset_types"]
