"""Which api-versions a resource type has a REST model for, and that model (issue 15).

ARM validates a request against the contract of the api-version the client sent, and refuses a
version the resource type does not register with 400 ``NoRegisteredProviderFound`` (the message
ARM gives, as users have reported it, e.g. Azure/azure-cli#28496: "No registered resource provider
found for location 'eastus' and API version '2023-11-01' for type 'networkInterfaces'. The
supported api-versions are '...'. The supported locations are '...'."). The sandbox knows a version
when it holds that version's generated models: the installed SDK's own set, or a set extracted
into ``schemas/`` from the SDK release that shipped it (see ``schemas/extract.py``). A version it
holds no model for is refused the same way: it cannot check what it does not know.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from foundry_dr_sandbox.arm.core.errors import ArmError

SCHEMAS = Path(__file__).resolve().parent / "schemas"


@cache
def schema_module(prefix: str, api_version: str) -> types.ModuleType | None:
    """The models of ``schemas/{prefix}-{api_version}.json`` as classes the contract check walks
    (``_attribute_map``, ``_validation``, ``_subtype_map`` as msrest models have them, plus
    ``_enums``: attribute -> allowed values); None when no such file is kept."""
    path = SCHEMAS / f"{prefix}-{api_version}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    name = f"foundry_dr_sandbox.arm.core.schemas.{prefix}_{api_version.replace('-', '_')}"
    module = types.ModuleType(name)
    module.ROOTS = doc.get("roots", {})  # type: ignore[attr-defined]
    module.API_VERSION = api_version  # type: ignore[attr-defined]
    enums = doc.get("enums", {})
    for model, spec in doc["models"].items():
        validation = {a: {"required": True} for a in spec["required"]}
        validation.update({a: {"readonly": True} for a in spec["readonly"]})
        attrs = {
            "__module__": name,
            "_attribute_map": {a: {"key": k, "type": t} for a, (k, t, _) in spec["attrs"].items()},
            "_validation": validation,
            "_subtype_map": spec.get("subtypes", {}),
            "_enums": {a: enums[e] for a, (_, _, e) in spec["attrs"].items() if e in enums},
            "_ignores_unknown_members": True,  # see VersionedModel.ignore_unknown
        }
        setattr(module, model, type(model, (), attrs))
    sys.modules[name] = module
    return module


@dataclass(frozen=True)
class VersionedModel:
    """The REST model of one request body (``root``, e.g. "OnlineDeployment") per api-version.

    ``sdk`` is the installed SDK's model and ``sdk_version`` the version it was generated from;
    ``kept`` the versions extracted into ``schemas/{prefix}-*.json``; ``stand_ins`` maps a version
    with no generated model anywhere to the one that stands in for it (named where it is used);
    ``ignore_unknown`` says the RP drops members its version does not declare."""

    root: str
    prefix: str
    sdk: Callable[[], type | None]
    sdk_version: str
    stand_ins: dict[str, str] = field(default_factory=dict)
    # members no model of the version declares are dropped, not refused (the RP's reading)
    ignore_unknown: bool = False

    def versions(self) -> list[str]:
        kept = {p.stem[len(self.prefix) + 1 :] for p in SCHEMAS.glob(f"{self.prefix}-*.json")}
        return sorted(kept | {self.sdk_version} | set(self.stand_ins))

    def model(self, api_version: str) -> type | None:
        """The model of ``api_version``; None when the sandbox holds none for it."""
        if api_version == self.sdk_version:
            return self.sdk()
        module = schema_module(self.prefix, self.stand_ins.get(api_version, api_version))
        if module is None:
            return None
        return getattr(module, module.ROOTS.get(self.root, self.root), None)


def no_registered_provider(api_version: str, full_type: str, supported: list[str], locations: list[str]) -> ArmError:
    short = full_type.split("/", 1)[1] if "/" in full_type else full_type
    return ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{locations[0] if locations else 'global'}' and "
        f"API version '{api_version}' for type '{short}'. The supported api-versions are "
        f"'{', '.join(supported)}'. The supported locations are '{', '.join(locations)}'.",
    )
