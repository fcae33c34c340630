"""Extract the REST models of one Azure ML api-version into a compact JSON schema (a dev tool).

The sandbox's contract check validates a request body against the models of the api-version it
was sent with (issue 15). azure-ai-ml 1.35 ships one generated model set (``arm_ml_service``,
2025-12-01) yet sends older api-versions per operation; the models AutoRest generated from each
older version's swagger (``specification/machinelearningservices/resource-manager/
Microsoft.MachineLearningServices/{stable,preview}/<version>/*.json`` in Azure/azure-rest-api-specs)
shipped in azure-ai-ml 1.27.1 as ``azure/ai/ml/_restclient/v<version>/models``. This script reads
them and writes, per version, what the check needs: each model's wire keys and types, its required
and read-only attributes, its discriminator map and the values of each enum-typed attribute.

    pip download azure-ai-ml==1.27.1 --no-deps -d /tmp/w && unzip -q /tmp/w/*.whl -d /tmp/w/x
    python sandbox/arm/core/schemas/extract.py /tmp/w/x/azure/ai/ml/_restclient v2023_08_01_preview ...
"""

from __future__ import annotations

import enum
import importlib
import json
import re
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The request bodies the sandbox checks (one per resource type it models, Microsoft.MachineLearningServices).
ROOTS = (
    "Workspace", "ComputeResource", "Datastore", "WorkspaceConnectionPropertiesV2BasicResource",
    "OnlineEndpoint", "OnlineDeployment", "BatchEndpoint", "BatchDeployment",
    "ModelContainer", "ModelVersion", "DataContainer", "DataVersionBase",
    "EnvironmentContainer", "EnvironmentVersion", "ComponentContainer", "ComponentVersion",
    "CodeContainer", "CodeVersion", "JobBase", "Schedule",
)  # fmt: skip


def _enum_of(models: types.ModuleType, annotation: object) -> str | None:
    for m in re.finditer(r"ForwardRef\('(?:_models\.)?(\w+)'\)", str(annotation)):
        found = getattr(models, m.group(1), None)
        if isinstance(found, type) and issubclass(found, enum.Enum):
            return m.group(1)
    return None


def extract(restclient: Path, folder: str) -> dict:
    alias = f"_aml_{folder}"
    package = types.ModuleType(alias)
    package.__path__ = [str(restclient / folder)]  # the models only: not the client and its operations
    sys.modules[alias] = package
    models = importlib.import_module(f"{alias}.models")
    api_version = folder[1:].replace("_", "-")  # v2023_08_01_preview -> 2023-08-01-preview
    assert api_version in (restclient / folder / "_configuration.py").read_text(), folder
    out: dict = {}
    enums: dict[str, list[str]] = {}
    # 2022-02-01-preview names its resources "<Name>Data" (OnlineEndpointData, ...)
    roots = {r: r if hasattr(models, r) else f"{r}Data" for r in ROOTS}
    roots = {r: n for r, n in roots.items() if hasattr(models, n)}
    todo = list(roots.values())
    while todo:
        name = todo.pop()
        cls = getattr(models, name, None)
        if name in out or not isinstance(cls, type) or not hasattr(cls, "_attribute_map"):
            continue
        hints = getattr(cls.__init__, "__annotations__", {})
        attrs = {}
        for attr, spec in cls._attribute_map.items():
            enum_name = _enum_of(models, hints.get(attr))
            if enum_name:
                enums[enum_name] = [e.value for e in getattr(models, enum_name)]
            attrs[attr] = [spec["key"], spec["type"], enum_name]
            inner = spec["type"].strip("[]{}")
            if inner and inner[0].isupper():
                todo.append(inner)
        validation = getattr(cls, "_validation", {}) or {}
        subtypes = vars(cls).get("_subtype_map") or {}  # its own, not a base class's
        for mapping in subtypes.values():
            todo.extend(mapping.values())
        out[name] = {
            "attrs": attrs,
            "required": sorted(a for a, r in validation.items() if r.get("required") and not r.get("readonly")),
            "readonly": sorted(a for a, r in validation.items() if r.get("readonly")),
            **({"subtypes": subtypes} if subtypes else {}),
        }
    return {
        "_source": {
            "package": "azure-ai-ml==1.27.1",
            "module": f"azure/ai/ml/_restclient/{folder}/models/_models_py3.py",
            "spec": "Azure/azure-rest-api-specs specification/machinelearningservices/resource-manager/"
            f"Microsoft.MachineLearningServices/{'preview' if 'preview' in api_version else 'stable'}/{api_version}",
            "note": "AutoRest-generated from that version's swagger; extracted by sandbox/arm/core/schemas/extract.py",
        },
        "api_version": api_version,
        "roots": roots,
        "models": dict(sorted(out.items())),
        "enums": dict(sorted(enums.items())),
    }


def main(argv: list[str]) -> None:
    restclient = Path(argv[0])
    for folder in argv[1:]:
        doc = extract(restclient, folder)
        target = HERE / f"mls-{doc['api_version']}.json"
        target.write_text(json.dumps(doc, indent=None, separators=(",", ":"), sort_keys=False) + "\n")
        print(target.name, len(doc["models"]), "models", target.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
