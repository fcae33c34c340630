"""Parsing ARM resource ids and request paths (case-insensitive, as ARM is)."""

from __future__ import annotations

from dataclasses import dataclass

from foundry_dr_sandbox.arm.core.errors import ArmError


@dataclass(frozen=True)
class ArmPath:
    """A request path, split into what the engine needs.

    kind: "subscription" | "resource_group" | "resource" | "collection" | "action" | "provider_path" |
    "extension" (``{scope}/providers/{ns}/{type}[/{name}]`` of an :data:`EXTENSION_NAMESPACES` namespace)
    For resources, ``types`` and ``names`` are the type segments and names below the namespace,
    e.g. workspaces/hub/models/m1 -> types ["workspaces", "models"], names ["hub", "m1"].
    """

    kind: str
    subscription: str
    resource_group: str | None = None
    namespace: str | None = None
    types: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    action: str | None = None
    rest: tuple[str, ...] = ()  # provider-level paths (locations/..., operationStatuses/...)
    # kind "extension": the id of the resource the extension resource sits on (any scope)
    scope: str | None = None

    @property
    def full_type(self) -> str:
        return "/".join([self.namespace or "", *self.types])

    @property
    def resource_id(self) -> str:
        """The id of the addressed resource (or of the collection's parent for collections)."""
        base = f"/subscriptions/{self.subscription}"
        if self.kind == "extension":
            base = f"{self.scope}/providers/{self.namespace}"
            for t, n in zip(self.types, self.names, strict=False):
                base += f"/{t}/{n}"
            return base
        if self.kind == "resource_group":
            return f"{base}/resourceGroups/{self.resource_group}"
        if self.kind == "collection" and self.resource_group is None and self.namespace == "Microsoft.Resources":
            return base
        if self.resource_group is not None:
            base += f"/resourceGroups/{self.resource_group}"
        if self.namespace:
            base += f"/providers/{self.namespace}"
            for t, n in zip(self.types, self.names, strict=False):
                base += f"/{t}/{n}"
        return base

    @property
    def parent_id(self) -> str:
        """The id of the parent: the enclosing resource, or the resource group / subscription."""
        if self.kind == "extension":
            return self.scope or f"/subscriptions/{self.subscription}"
        if self.kind == "collection" and self.resource_group is None:
            return f"/subscriptions/{self.subscription}"
        if (self.kind == "collection" and self.names) or (self.kind in ("resource", "action") and len(self.names) > 1):
            names = self.names if self.kind == "collection" else self.names[:-1]
            types = self.types[: len(names)]
            return ArmPath("resource", self.subscription, self.resource_group, self.namespace, types, names).resource_id
        if self.resource_group is not None and self.kind != "resource_group":
            return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        return f"/subscriptions/{self.subscription}"


# Namespaces whose resources are extension resources, ``{scope}/providers/{ns}/{type}/{name}`` on any
# scope (subscription, resource group or resource): ARM RPC, "Extension resources"
# (github.com/Azure/azure-resource-manager-rpc, v1.0/resource-api-reference.md); role assignments
# and definitions are (Azure/azure-rest-api-specs, specification/authorization/resource-manager/
# Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json: "/{scope}/providers/
# Microsoft.Authorization/roleAssignments/{roleAssignmentName}").
EXTENSION_NAMESPACES = frozenset({"microsoft.authorization"})


def _extension(segs: list[str], sub: str) -> ArmPath | None:
    """``{scope}/providers/{ns}/...`` of an extension namespace (the last such segment wins)."""
    for i in range(len(segs) - 2, 1, -1):
        if segs[i].lower() == "providers" and segs[i + 1].lower() in EXTENSION_NAMESPACES:
            tail = segs[i + 2 :]
            rg = segs[3] if len(segs) > 3 and segs[2].lower() == "resourcegroups" and i > 3 else None
            return ArmPath("extension", sub, rg, segs[i + 1], tuple(tail[0::2]), tuple(tail[1::2]),
                           scope="/" + "/".join(segs[:i]))  # fmt: skip
    return None


def key(resource_id: str) -> str:
    """Store key of an id: ARM ids are case-insensitive."""
    return resource_id.rstrip("/").lower()


def parse(path: str, method: str) -> ArmPath:
    segs = [s for s in path.split("/") if s]
    if len(segs) < 2 or segs[0].lower() != "subscriptions":
        raise ArmError(404, "InvalidResourceNamespace", f"The path '{path}' is not an ARM resource path.")
    sub = segs[1]
    extension = _extension(segs, sub)
    if extension is not None:
        return extension
    rest = segs[2:]
    if not rest:
        return ArmPath("subscription", sub)
    rg = None
    if rest[0].lower() == "resourcegroups":
        if len(rest) == 1:
            return ArmPath("collection", sub, None, "Microsoft.Resources", ("resourceGroups",), ())
        rg = rest[1]
        rest = rest[2:]
        if not rest:
            return ArmPath("resource_group", sub, rg, "Microsoft.Resources", ("resourceGroups",), (rg,))
    if rest[0].lower() == "deployments":
        # ARM's legacy short form (deployment operations use it): .../resourcegroups/{rg}/deployments/...
        rest = ["providers", "Microsoft.Resources", *rest]
    if rest[0].lower() != "providers" or len(rest) < 2:
        raise ArmError(404, "InvalidResourceNamespace", f"The path '{path}' is not an ARM resource path.")
    ns = rest[1]
    tail = rest[2:]
    if rg is None:
        # subscription-level provider paths: locations/{loc}/usages, operationStatuses, lists by type
        if len(tail) == 1:
            return ArmPath("collection", sub, None, ns, (tail[0],), ())
        return ArmPath("provider_path", sub, None, ns, rest=tuple(tail))
    if not tail:
        raise ArmError(404, "InvalidResourceType", f"The path '{path}' names no resource type.")
    types = tuple(tail[0::2])
    names = tuple(tail[1::2])
    if len(tail) % 2 == 0:
        return ArmPath("resource", sub, rg, ns, types, names)
    if method.upper() == "POST" and len(tail) >= 3:
        # .../{type}/{name}/{action}
        return ArmPath("action", sub, rg, ns, types[:-1], names, action=types[-1])
    return ArmPath("collection", sub, rg, ns, types, names)
