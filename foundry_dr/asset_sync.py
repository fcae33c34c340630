"""What to do with each asset version when copying a workspace's assets to the other region.

Pure logic (no Azure, no Prefect): the tasks in ``tasks/assets.py`` turn SDK entities into
plain mappings, and everything that decides something happens here, where it is unit-tested.

The rules are the resource provider's: an asset version is immutable except for its
description, tags, stage and archived state. So a destination version that differs only in
those is *updated*; one whose content (path, image, spec, ...) differs is a *conflict*: it is
reported and never overwritten, because an overwrite would silently change what a deployment
or a job in the other region runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "KIND_ORDER",
    "MUTABLE_FIELDS",
    "Action",
    "ImageRef",
    "Op",
    "RefMap",
    "canonical_asset_ref",
    "canonical_uri",
    "content_of",
    "fingerprint",
    "normalise",
    "parse_image",
    "plan_asset_actions",
    "rewrite_refs",
    "rewrite_uri",
    "summarise",
    "translate",
]

Op = Literal["create", "skip", "update", "conflict"]

# Dependency order: components name environments and code (and may name data/models), so those
# exist first; deployments and jobs that name code need its version in the destination too.
KIND_ORDER: tuple[str, ...] = ("data", "models", "environments", "codes", "components")
# What the RP lets change on an existing version; everything else is immutable content.
MUTABLE_FIELDS: tuple[str, ...] = ("description", "tags", "stage", "archived")
_IDENTITY = ("kind", "name", "version")
# Keys of a dumped component that are identity, mutable or set by the service, not its spec.
_COMPONENT_NON_SPEC = {"$schema", "id", "name", "version", "description", "tags", "creation_context", "latest_version"}

_SHORT = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$", re.IGNORECASE)
_FULL = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/"
    r"(?:providers/Microsoft\.MachineLearningServices/)?workspaces/(?P<ws>[^/]+)/"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$",
    re.IGNORECASE,
)
# A blob URL on an account's own host (``https://acct.blob.core.windows.net/container/path``).
_BLOB_URL = re.compile(r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.(?P<rest>.+)$", re.IGNORECASE)
# An ARM id of something inside a workspace, as components and deployments reference assets
# (``azureml:/subscriptions/.../workspaces/ws/environments/env/versions/1``), anywhere in a string.
_ARM_IN_WS = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/\s\"']+)",
    re.IGNORECASE,
)


# ---- references ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefMap:
    """How a reference in the source workspace reads in the destination one.

    Datastore and workspace names not in the maps are kept (datastores have the same names on
    both sides; projects too). ``subscription_id``/``resource_group`` are the destination's, used
    in the full ``azureml://subscriptions/...`` form and in ARM ids; None keeps the source's.
    """

    datastores: Mapping[str, str] = field(default_factory=dict)
    workspaces: Mapping[str, str] = field(default_factory=dict)
    subscription_id: str | None = None
    resource_group: str | None = None
    storage_accounts: Mapping[str, str] = field(default_factory=dict)  # blob URLs (a code version's codeUri)

    def workspace(self, name: str) -> str:
        return _lookup(self.workspaces, name)

    def datastore(self, name: str) -> str:
        return _lookup(self.datastores, name)


def _lookup(mapping: Mapping[str, str], name: str) -> str:
    # Azure resource names are case-insensitive: match that way, keep the map's spelling.
    for key, value in mapping.items():
        if key.lower() == name.lower():
            return value
    return name


def rewrite_uri(
    uri: str,
    datastore_map: Mapping[str, str],
    *,
    workspace_map: Mapping[str, str] | None = None,
    subscription_id: str | None = None,
    resource_group: str | None = None,
) -> str:
    """``uri`` pointing at the other side: the datastore (both forms) and, in the full
    ``azureml://subscriptions/<s>/resourcegroups/<rg>/workspaces/<ws>/datastores/<d>/paths/<p>``
    form, the workspace, subscription and resource group are mapped. Anything else (https
    URLs, ``azureml:name:version`` references, local paths) is returned unchanged."""
    refs = RefMap(datastore_map, workspace_map or {}, subscription_id, resource_group)
    return _rewrite_uri(uri, refs)


def _rewrite_uri(uri: str, refs: RefMap) -> str:
    if (m := _BLOB_URL.match(uri)) and refs.storage_accounts:
        return f"https://{_lookup(refs.storage_accounts, m['account'])}.blob.{m['rest']}"
    if m := _SHORT.match(uri):
        return f"azureml://datastores/{refs.datastore(m['ds'])}/paths/{m['path']}"
    if m := _FULL.match(uri):
        return (
            f"azureml://subscriptions/{refs.subscription_id or m['sub']}/resourcegroups/"
            f"{refs.resource_group or m['rg']}/workspaces/{refs.workspace(m['ws'])}/datastores/"
            f"{refs.datastore(m['ds'])}/paths/{m['path']}"
        )
    return uri


def _rewrite_arm(text: str, refs: RefMap) -> str:
    def sub(m: re.Match[str]) -> str:
        return (
            f"/subscriptions/{refs.subscription_id or m['sub']}/resourceGroups/{refs.resource_group or m['rg']}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{refs.workspace(m['ws'])}"
        )

    return _ARM_IN_WS.sub(sub, text)


def rewrite_refs(value: Any, refs: RefMap) -> Any:
    """``value`` (a string, or dicts/lists of them, e.g. a component spec) with every datastore
    URI and workspace ARM id rewritten to the destination."""
    if isinstance(value, str):
        return _rewrite_arm(_rewrite_uri(value, refs), refs)
    if isinstance(value, Mapping):
        return {k: rewrite_refs(v, refs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rewrite_refs(v, refs) for v in value]
    return value


def canonical_uri(uri: str | None, workspace: str | None) -> str | None:
    """A datastore URI in one comparable spelling: the full form of the owning ``workspace``
    becomes the short form (the SDK and the RP write either), prefixes are lower-cased."""
    if not uri:
        return None
    if (m := _FULL.match(uri)) and workspace and m["ws"].lower() == workspace.lower():
        return f"azureml://datastores/{m['ds']}/paths/{m['path']}"
    if m := _FULL.match(uri):
        return (
            f"azureml://subscriptions/{m['sub'].lower()}/resourcegroups/{m['rg'].lower()}/workspaces/"
            f"{m['ws'].lower()}/datastores/{m['ds']}/paths/{m['path']}"
        )
    if m := _SHORT.match(uri):
        return f"azureml://datastores/{m['ds']}/paths/{m['path']}"
    return uri


_ASSET_ARM_REF = re.compile(
    r"^(?:azureml:)?/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/(?P<ws>[^/]+)/(?:environments|models|data|codes|components)/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$",
    re.IGNORECASE,
)


def canonical_asset_ref(value: Any, workspace: str | None) -> Any:
    """Asset references in one spelling: an ARM id of an asset in ``workspace`` itself becomes
    ``azureml:name:version`` (the SDK resolves the short form to the id on create, so a copied
    component reads back with ids of the *destination*; both mean the same asset)."""
    if isinstance(value, str):
        m = _ASSET_ARM_REF.match(value)
        if m and workspace and m["ws"].lower() == workspace.lower():
            return f"azureml:{m['name']}:{m['version']}"
        return value
    if isinstance(value, Mapping):
        return {k: canonical_asset_ref(v, workspace) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_asset_ref(v, workspace) for v in value]
    return value


# ---- normalisation ---------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """Drop empty values recursively so that None, {} and missing compare equal."""
    if isinstance(value, Mapping):
        out = {str(k): _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "")}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def normalise(kind: str, fields: Mapping[str, Any], *, workspace: str | None = None) -> dict:
    """An asset version as a comparable dict: identity, mutable metadata and content.

    ``fields`` are the entity's public attributes (for components: its dumped YAML); ids,
    creation context and system data are ignored because the service sets them. ``workspace``
    (the owner) lets full-form datastore URIs of that workspace compare equal to short ones.
    """
    if kind not in KIND_ORDER:
        raise ValueError(f"unknown asset kind {kind!r}; expected one of {', '.join(KIND_ORDER)}")
    out: dict[str, Any] = {
        "kind": kind,
        "name": str(fields["name"]),
        "version": str(fields["version"]),
        "description": fields.get("description") or None,
        "tags": dict(fields.get("tags") or {}),
        "archived": bool(fields.get("archived", False)),
    }
    if kind == "models":
        out["stage"] = fields.get("stage") or None
    content: dict[str, Any] = {"properties": dict(fields.get("properties") or {})}
    if kind in ("models", "data"):
        content["type"] = fields.get("type")
        content["path"] = canonical_uri(_str(fields.get("path")), workspace)
        if kind == "models":
            content["flavors"] = fields.get("flavors")
    elif kind == "codes":
        content["code_uri"] = _str(fields.get("code_uri"))
    elif kind == "environments":
        for key in ("image", "conda_file", "build", "os_type", "inference_config"):
            content[key] = fields.get(key)
        if isinstance(content["os_type"], str):
            content["os_type"] = content["os_type"].lower()
    else:  # components: the spec is everything the dump carries beyond identity and metadata
        spec = {k: v for k, v in fields.items() if k not in _COMPONENT_NON_SPEC | {"archived"}}
        content["spec"] = canonical_asset_ref(spec, workspace)
        content["properties"] = {}
    out.update(_clean(content))
    out.setdefault("properties", {})
    return out


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def translate(version: Mapping[str, Any], refs: RefMap, dest_workspace: str | None = None) -> dict:
    """A normalised source version as it should read in ``dest_workspace`` (URIs, ARM ids)."""
    out = dict(version)
    for key in ("path", "spec", "conda_file", "inference_config", "code_uri"):
        if key in out:
            out[key] = rewrite_refs(out[key], refs)
    if out.get("path"):
        out["path"] = canonical_uri(out["path"], dest_workspace)
    if "spec" in out:
        out["spec"] = canonical_asset_ref(out["spec"], dest_workspace)
    return out


def content_of(version: Mapping[str, Any]) -> dict:
    """The immutable part of a normalised version (what a conflict is about)."""
    return {k: v for k, v in version.items() if k not in (*_IDENTITY, *MUTABLE_FIELDS) and not k.startswith("_")}


def fingerprint(version: Mapping[str, Any]) -> str:
    """A stable hash of a normalised version, recorded in the checkpoint per item."""
    payload = {k: v for k, v in version.items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---- planning --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """One asset version's fate: create it, skip it (identical), update its mutable metadata,
    or report a conflict (immutable content differs; the destination is left alone)."""

    op: Op
    kind: str
    name: str
    version: str
    source: Mapping[str, Any]
    changes: tuple[str, ...] = ()
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}:{self.version}"


def _version_key(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    return sorted(k for k in keys if a.get(k) != b.get(k))


def plan_asset_actions(
    source_versions: Iterable[Mapping[str, Any]], dest_versions: Iterable[Mapping[str, Any]]
) -> list[Action]:
    """Compare normalised (and translated) source versions with the destination's.

    Returns one action per source version, in dependency order (``KIND_ORDER``), then by
    name and version, so that a caller applying them in order never references an asset
    that does not exist yet. Destination-only versions are left alone (no deletes).
    """
    dest = {(v["kind"], v["name"], v["version"]): v for v in dest_versions}
    actions: list[Action] = []
    for src in source_versions:
        ident = (src["kind"], src["name"], src["version"])
        have = dest.get(ident)
        if have is None:
            actions.append(Action("create", *ident, src))
            continue
        content = _differences(content_of(src), content_of(have), set(content_of(src)) | set(content_of(have)))
        if content:
            reason = (
                f"{src['kind']} {src['name']}:{src['version']} exists in the destination with different "
                f"{', '.join(content)}; versions are immutable, so it was left unchanged. Register the "
                f"source's content under a new version, or delete the destination's version if it is wrong."
            )
            actions.append(Action("conflict", *ident, src, tuple(content), reason))
            continue
        mutable = _differences(src, have, MUTABLE_FIELDS)
        if mutable:
            actions.append(Action("update", *ident, src, tuple(mutable), f"{', '.join(mutable)} differ"))
        else:
            actions.append(Action("skip", *ident, src, (), "identical"))
    return sorted(actions, key=lambda a: (KIND_ORDER.index(a.kind), a.name, _version_key(a.version)))


def summarise(actions: Iterable[Action]) -> dict[str, dict[str, int]]:
    """kind -> op -> count (zeros included, so reports have stable columns)."""
    out = {k: {"create": 0, "skip": 0, "update": 0, "conflict": 0} for k in KIND_ORDER}
    for action in actions:
        out[action.kind][action.op] += 1
    return out


# ---- images ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRef:
    """A container image reference split into registry host, repository, tag and digest."""

    registry: str | None
    repository: str
    tag: str | None
    digest: str | None

    @property
    def source_image(self) -> str:
        """``repo:tag`` or ``repo@digest``, as ACR's importImage wants it (no registry host)."""
        return f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag or 'latest'}"


def parse_image(image: str) -> ImageRef:
    """``host/repo/path:tag`` or ``host/repo@sha256:...`` -> parts. The first segment is a
    registry host only when it looks like one (has a dot or a port, or is ``localhost``),
    as docker decides."""
    rest, digest = (image.split("@", 1) + [None])[:2] if "@" in image else (image, None)
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), remainder
    else:
        registry, path = None, rest
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
    elif digest is None:
        tag = "latest"
    return ImageRef(registry, path, tag, digest)
