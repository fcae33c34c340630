"""Wire shapes of Microsoft.Resources deployments (DeploymentExtended, WhatIfOperationResult)."""

from __future__ import annotations

import hashlib
import json

DEPLOYMENT_FAILED_MESSAGE = (
    "At least one resource deployment operation failed. Please list deployment operations for details. "
    "Please see https://aka.ms/arm-deployment-operations for usage details."
)


def template_hash(template: dict) -> str:
    """A stable number for the template, as ARM's templateHash is (its value is opaque)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return str(int(digest[:16], 16))


def providers(planned: list) -> list[dict]:
    """``properties.providers``: the namespaces and types a deployment touches."""
    found: dict[str, set[str]] = {}
    for p in planned:
        ns, _, rtype = p["full_type"].partition("/")
        found.setdefault(ns, set()).add(rtype)
    return [
        {"namespace": ns, "resourceTypes": [{"resourceType": t, "locations": []} for t in sorted(types)]}
        for ns, types in found.items()
    ]


def dependencies(planned: list) -> list[dict]:
    """``properties.dependencies`` in ARM's shape (dependsOn resolved to ids)."""
    by_key = {p["resource_id"].lower(): p for p in planned}
    out = []
    for p in planned:
        if not p["depends_on"]:
            continue
        out.append(
            {
                "id": p["resource_id"],
                "resourceType": p["full_type"],
                "resourceName": p["name"],
                "dependsOn": [
                    {
                        "id": by_key[d]["resource_id"],
                        "resourceType": by_key[d]["full_type"],
                        "resourceName": by_key[d]["name"],
                    }
                    for d in p["depends_on"]
                    if d in by_key
                ],
            }
        )
    return out


def iso_duration(seconds: float) -> str:
    return f"PT{max(seconds, 0.0):.7f}S"


def deployment_operation(
    deployment_id: str,
    op_id: str,
    planned: dict,
    state: str,
    status_code: str,
    timestamp: str,
    seconds: float,
    error: dict | None,
) -> dict:
    """One DeploymentOperation (``deployments/{name}/operations/{id}``)."""
    props: dict = {
        "provisioningOperation": "Create",
        "provisioningState": state,
        "timestamp": timestamp,
        "duration": iso_duration(seconds),
        "trackingId": op_id,
        "serviceRequestId": op_id,
        "statusCode": status_code,
        "targetResource": {
            "id": planned["resource_id"],
            "resourceType": planned["full_type"],
            "resourceName": planned["name"],
            "apiVersion": planned["api_version"],
        },
    }
    if error:
        props["statusMessage"] = {"status": "Failed", "error": error}
    return {
        "id": f"{deployment_id}/operations/{op_id}",
        "operationId": op_id,
        "type": "Microsoft.Resources/deployments/operations",
        "properties": props,
    }


def what_if_result(changes: list[dict]) -> dict:
    return {
        "status": "Succeeded",
        "properties": {"changes": changes, "potentialChanges": [], "diagnostics": []},
    }
