"""Microsoft.ContainerRegistry: registries, geo-replications, importImage; state and rules.

A registry's images are ``meta["repositories"]``: ``{repo: {"tags": {tag: digest},
"manifests": [digest, ...]}}``. importImage is an LRO (202 + Location): it is validated at
once (unknown source or image: 400/404) and
the tags land in the target only when the operation completes, as in ACR.
"""

from __future__ import annotations

import copy
import re
import time

from azure.mgmt.containerregistry.models import Registry, Replication
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse

from foundry_dr_sandbox.arm.core import lro
from foundry_dr_sandbox.arm.core.engine import Engine, normalize_location, now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid, not_found
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.containerregistry import responses
from foundry_dr_sandbox.arm.providers.containerregistry.data_plane import register_data_plane

NAMESPACE = "Microsoft.ContainerRegistry"
REGISTRIES = f"{NAMESPACE}/registries"
REPLICATIONS = f"{REGISTRIES}/replications"
IMPORT_RESULTS = "importImageOperationResults"  # provider path segment of importImage Location URLs
_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")


def _body(req: Request) -> dict:
    return copy.deepcopy(req.body) if isinstance(req.body, dict) else {}


def _sku(body: dict, existing: Existing | None) -> dict:
    name = (body.get("sku") or {}).get("name") or (
        existing.doc.get("sku", {}).get("name") if existing else None
    )
    tier = responses.SKU_TIERS.get(str(name).lower())
    if tier is None:
        raise invalid(
            f"The SKU '{name}' is not valid for a container registry: use Basic, Standard or Premium."
        )
    return {"name": tier, "tier": tier}


def find_registry(
    engine: Engine, name: str | None = None, login_server: str | None = None
) -> tuple[dict, dict] | None:
    """A sandbox registry by name or login server (both are globally unique in ACR)."""
    for doc, _ in engine.store.by_type(REGISTRIES):
        if (name and doc.get("name", "").lower() == name.lower()) or (
            login_server and doc.get("properties", {}).get("loginServer", "").lower() == login_server.lower()
        ):
            found = engine.load(doc["id"])
            return (found.doc, found.meta) if found else None
    return None


class RegistryType(ResourceType):
    type_name = REGISTRIES
    lro_put = True
    rest_model = Registry  # contract check with the SDK's own model

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = _body(req)
        name = req.path.names[-1]
        if not _NAME.match(name):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The registry name '{name}' is invalid: use 5-50 alphanumeric characters.",
            )
        other = find_registry(engine, name=name)
        if other and not existing:
            raise ArmError(
                409,
                "AlreadyInUse",
                f"The registry DNS name {name.lower()}.azurecr.io is already in use. "
                "Registry names are globally unique; choose another name.",
            )
        sku = _sku(body, existing)
        if (
            existing
            and sku["name"] != "Premium"
            and len(engine.store.children(existing.doc["id"], REPLICATIONS)) > 1
        ):
            raise invalid(
                "The registry has geo-replications; delete them before moving below the Premium SKU."
            )
        doc = {k: v for k, v in body.items() if k in ("location", "tags", "identity")}
        doc["sku"] = sku
        doc["properties"] = responses.registry_properties(
            name,
            body.get("properties") or {},
            existing.doc.get("properties") if existing else None,
            now_iso(),
        )
        meta = dict(existing.meta) if existing else {"repositories": {}}
        return doc, meta

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        """A Premium registry lists its home region as a replication, as ACR does."""
        if doc["sku"]["name"] != "Premium":
            return
        region = normalize_location(doc.get("location")) or ""
        rid = f"{doc['id']}/replications/{region}"
        if engine.store.get(rid) or any(
            normalize_location(r.get("location")) == region
            for r, _ in engine.store.children(doc["id"], REPLICATIONS)
        ):
            return
        props = responses.replication_properties({})
        props.update(provisioningState="Succeeded", status={"displayStatus": "Ready", "timestamp": now_iso()})
        home = {
            "id": rid,
            "name": region,
            "type": REPLICATIONS,
            "location": doc.get("location"),
            "tags": {},
            "properties": props,
            "systemData": doc.get("systemData", {}),
        }
        engine.store.put(
            rid, doc["id"], REPLICATIONS, home, {"parent": doc["id"], "region": region, "home": True}
        )


class ReplicationType(ResourceType):
    type_name = REPLICATIONS
    lro_put = True
    rest_model = Replication
    location_required = True

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        assert parent is not None  # the engine checks the registry exists
        if parent.doc.get("sku", {}).get("name") != "Premium":
            raise ArmError(
                400,
                "RegistrySkuNotSupported",
                f"Geo-replication is only supported for registries in the Premium SKU; the registry "
                f"'{parent.doc.get('name')}' is {parent.doc.get('sku', {}).get('name')}. Update it to "
                "Premium first.",
            )
        body = _body(req)
        region = normalize_location(body.get("location"))
        for other, _ in engine.store.children(parent.doc["id"], REPLICATIONS):
            if (
                normalize_location(other.get("location")) == region
                and other["name"].lower() != req.path.names[-1].lower()
            ):
                raise ArmError(
                    409,
                    "Conflict",
                    f"The registry already has a replication in '{region}' ('{other['name']}').",
                )
        doc = {k: v for k, v in body.items() if k in ("location", "tags")}
        doc["properties"] = responses.replication_properties(body.get("properties") or {})
        return doc, dict(existing.meta) if existing else {}

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        doc["properties"]["status"] = {"displayStatus": "Ready", "timestamp": now_iso()}

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        if meta.get("home"):
            raise ArmError(
                400,
                "CannotDeleteHomeReplication",
                "The replication in the registry's home region cannot be deleted.",
            )


# ---- importImage --------------------------------------------------------------------------
def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """'repo:tag' / 'repo@sha256:...' / 'repo' -> (repo, tag, digest)."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, None, digest
    repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return repo, tag, None


def _existing(repos: dict, targets: list[tuple[str, str]]) -> list[str]:
    """The target tags that exist already (NoForce fails on any of them, same digest or not)."""
    return [f"{r}:{t}" for r, t in targets if repos.get(r, {}).get("tags", {}).get(t) is not None]


def import_image(engine: Engine, req: Request, doc: dict, meta: dict) -> Reply:
    """POST .../registries/{r}/importImage (ImportImageParameters) -> 202 + Location."""
    body = _body(req)
    source = body.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("sourceImage"), str):
        raise invalid("The request content was invalid: 'source.sourceImage' is required.")
    mode = str(body.get("mode") or "NoForce")
    if mode.lower() not in ("noforce", "force"):
        raise invalid(f"The import mode '{mode}' is not valid: use NoForce or Force.")
    if source.get("resourceId"):
        found = engine.load(source["resourceId"])
        src = (
            (found.doc, found.meta)
            if found and found.doc.get("type", "").lower() == REGISTRIES.lower()
            else None
        )
        where = source["resourceId"]
    elif source.get("registryUri"):
        src = find_registry(engine, login_server=str(source["registryUri"]).split("/")[0])
        where = source["registryUri"]
        if src is None:
            raise invalid(
                f"The source registry '{where}' is not a sandbox registry: the sandbox imports only "
                "between its own registries (by resourceId or loginServer)."
            )
    else:
        raise invalid("The import source needs 'resourceId' or 'registryUri'.")
    if src is None:
        raise not_found(where, "source registry")
    repo, tag, digest = _split_image(source["sourceImage"])
    src_repo = src[1].get("repositories", {}).get(repo)
    if src_repo is not None and tag is not None:
        digest = src_repo.get("tags", {}).get(tag)
    if src_repo is None or digest is None or digest not in src_repo.get("manifests", []):
        raise ArmError(
            404,
            "ImageNotFound" if src_repo is None else "ManifestUnknown",
            f"The image '{source['sourceImage']}' was not found in the source registry '{where}'.",
        )
    targets = [_split_image(t)[:2] for t in body.get("targetTags") or []]
    untagged = list(body.get("untaggedTargetRepositories") or [])
    if not targets and not untagged:
        targets = [(repo, tag)] if tag else []
        untagged = [] if tag else [repo]
    pairs = [(r, t or "latest") for r, t in targets]
    # NoForce over an existing tag is not refused here: the spec (ImportImageParameters.mode,
    # specification/containerregistry/.../stable/2023-07-01/containerregistry.json) says "When
    # NoForce, any existing target tags will fail the operation before any copying begins" -- the
    # *operation* fails (the poller sees Failed), whatever digest the tag holds; see _apply.
    op_id, reply = lro.start(
        engine,
        req,
        kind="importImage",
        segment=IMPORT_RESULTS,
        region=meta.get("region"),
        delay=engine.lro_delay(f"{REGISTRIES}/importImage"),
        namespace=NAMESPACE,
        retry="1",
        target=doc["id"],
        digest=digest,
        targets=pairs,
        untagged=untagged,
        force=mode.lower() == "force",
    )
    meta.setdefault("pending_imports", []).append(op_id)
    engine.store.put(doc["id"], meta["parent"], doc["type"], doc, meta)
    return reply


RegistryType.actions = {"importImage": import_image}


def _apply(engine: Engine, op: dict) -> dict:
    """Complete an import whose time has come: copy the digest and tags into the target."""
    if op["status"] != "InProgress" or time.time() < op["ready_at"]:
        return op
    found = engine.store.get(op["target"])
    if found is None:
        op.update(
            status="Failed", error={"code": "ResourceNotFound", "message": "The target registry was deleted."}
        )
    else:
        doc, meta = found
        repos = meta.setdefault("repositories", {})
        pairs = [tuple(p) for p in op["targets"]]
        clash = [] if op["force"] else _existing(repos, pairs)
        if clash:
            # The error code of this failure is not in the spec; "Conflict" is what the Azure CLI
            # prints for it ("(Conflict) ... already exists"). Unconfirmed: say so, do not rely on it.
            op.update(
                status="Failed",
                error={
                    "code": "Conflict",
                    "message": f"Target tag(s) {', '.join(clash)} already exist in the registry; "
                    "use mode 'Force' to overwrite them.",
                },
            )
        else:
            for repo in [r for r, _ in pairs] + op["untagged"]:
                entry = repos.setdefault(repo, {"tags": {}, "manifests": []})
                if op["digest"] not in entry["manifests"]:
                    entry["manifests"].append(op["digest"])
            for repo, tag in pairs:
                repos[repo]["tags"][tag] = op["digest"]
            op["status"] = "Succeeded"
        meta["pending_imports"] = [x for x in meta.get("pending_imports", []) if x != op["id"]]
        engine.store.put(doc["id"], meta["parent"], doc["type"], doc, meta)
    op["endTime"] = now_iso()
    engine.store.put_operation(op["id"], op)
    return op


def settle_imports(engine: Engine, registry_id: str) -> None:
    found = engine.store.get(registry_id)
    for op_id in list(found[1].get("pending_imports", [])) if found else []:
        op = engine.store.get_operation(op_id)
        if op:
            _apply(engine, op)


def _import_outcome(op: dict) -> Reply:
    if op["status"] == "Failed":
        raise ArmError(
            409 if op["error"]["code"] == "Conflict" else 404, op["error"]["code"], op["error"]["message"]
        )
    return Reply(200, None)


# ``/subscriptions/{s}/providers/Microsoft.ContainerRegistry/locations/{loc}/importImageOperationResults/{op}``
provider_path = lro.location_route(IMPORT_RESULTS, "importImage", _apply, _import_outcome)


# ---- control API: the registries' contents (ACR's data plane is out of scope) ---------------
def register_routes(app: FastAPI, engine: Engine) -> None:
    register_data_plane(app, engine, find_registry)

    def _error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    @app.get("/_sandbox/registries")
    async def list_registries() -> JSONResponse:
        return JSONResponse(
            {
                "value": [
                    {
                        "name": d["name"],
                        "id": d["id"],
                        "region": m.get("region"),
                        "loginServer": d.get("properties", {}).get("loginServer"),
                    }
                    for d, m in engine.store.by_type(REGISTRIES)
                ]
            }
        )

    @app.get("/_sandbox/registries/{name}/repositories")
    async def get_repositories(name: str) -> JSONResponse:
        found = find_registry(engine, name=name)
        if found is None:
            return _error(404, "RegistryNotFound", f"No sandbox registry named '{name}'.")
        settle_imports(engine, found[0]["id"])
        doc, meta = engine.store.get(found[0]["id"]) or found
        return JSONResponse(responses.repositories_view(doc, meta))

    @app.put("/_sandbox/registries/{name}/repositories")
    async def put_repositories(name: str, request: HttpRequest) -> JSONResponse:
        """Replace the registry's contents: ``{"repositories": {repo: {"tags": {tag: digest|null}}}}``."""
        found = find_registry(engine, name=name)
        if found is None:
            return _error(404, "RegistryNotFound", f"No sandbox registry named '{name}'.")
        body = await request.json()
        repos_in = body.get("repositories") if isinstance(body, dict) else None
        if not isinstance(repos_in, dict):
            return _error(
                400, "InvalidRepositories", 'Expected {"repositories": {repo: {"tags": {tag: digest}}}}.'
            )
        repos: dict = {}
        for repo, spec in repos_in.items():
            tags = {
                t: (d or responses.digest_of(repo, t)) for t, d in ((spec or {}).get("tags") or {}).items()
            }
            manifests = sorted(set(tags.values()) | set((spec or {}).get("manifests") or []))
            repos[repo] = {"tags": tags, "manifests": manifests}
        doc, meta = found
        meta["repositories"] = repos
        engine.store.put(doc["id"], meta["parent"], doc["type"], doc, meta)
        return JSONResponse(responses.repositories_view(doc, meta))


PROVIDER = Provider(
    namespace=NAMESPACE,
    resource_types=[RegistryType(), ReplicationType()],
    provider_path=provider_path,
    register_routes=register_routes,
)
