"""The scoring URIs of online endpoints: a real HTTPS POST that answers who served it.

``POST /score/{region}/{workspace}/{endpoint}/score`` with ``Authorization: Bearer <key>``
(or an AMLToken from the ``token`` action) picks a deployment by the endpoint's traffic split
(weighted random) unless ``azureml-model-deployment`` names one, and answers
``{"endpoint", "deployment", "model", "region", "input_echo"}``. A DR drill checks through it
that the secondary serves the same models with the same split. Outages of the region apply.
"""

from __future__ import annotations

import hmac
import json
import random
import time
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from foundry_dr_sandbox.fault_middleware import route_fault

if TYPE_CHECKING:
    from fastapi import FastAPI

    from foundry_dr_sandbox.arm.core.engine import Engine

SERVICE = "scoring"
_rng = random.Random()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers or {}
    )


def find_endpoint(engine: Engine, region: str, workspace: str, endpoint: str) -> tuple[dict, dict] | None:
    from foundry_dr_sandbox.arm.providers.machinelearningservices.endpoints import ONLINE_ENDPOINTS

    for doc, meta in engine.store.by_type(ONLINE_ENDPOINTS):
        if (
            doc["name"].lower() == endpoint.lower()
            and meta.get("region") == region.lower()
            and doc["id"].lower().split("/workspaces/")[1].split("/")[0] == workspace.lower()
        ):
            return doc, meta
    return None


def authorized(doc: dict, meta: dict, authorization: str | None) -> bool:
    if not authorization or not authorization.lower().startswith("bearer "):
        return False
    presented = authorization.split(" ", 1)[1].strip()
    if doc.get("properties", {}).get("authMode") == "AMLToken":
        return any(
            hmac.compare_digest(t["token"], presented) and t["exp"] > time.time()
            for t in meta.get("tokens", [])
        )
    keys = meta.get("keys") or {}
    return any(hmac.compare_digest(str(k), presented) for k in keys.values() if k)


def choose(traffic: dict[str, int], wanted: str | None, deployments: dict[str, dict]) -> dict | None:
    if wanted:
        return deployments.get(wanted.lower())
    weighted = [(name, pct) for name, pct in traffic.items() if pct > 0 and name.lower() in deployments]
    if not weighted:
        return None
    pick = _rng.uniform(0, sum(p for _, p in weighted))
    for name, pct in weighted:
        pick -= pct
        if pick <= 0:
            return deployments[name.lower()]
    return deployments[weighted[-1][0].lower()]


def register_routes(app: FastAPI, engine: Engine) -> None:
    from foundry_dr_sandbox.arm.providers.machinelearningservices.endpoints import deployments_of

    @app.post("/score/{region}/{workspace}/{endpoint}/score")
    async def score(region: str, workspace: str, endpoint: str, request: Request) -> Response:
        faults = request.app.state.faults
        path = request.url.path
        region = region.lower()
        fault = await route_fault(faults, SERVICE, region, request,
                                  lambda d: _error(d.status, d.code, d.message, d.headers))
        if fault is not None:
            return fault
        status = 500
        try:
            found = find_endpoint(engine, region, workspace, endpoint)
            if found is None:
                status = 404
                return _error(404, "EndpointNotFound", f"Endpoint '{endpoint}' was not found in {region}.")
            doc, meta = found
            if not authorized(doc, meta, request.headers.get("authorization")):
                status = 401
                return _error(
                    401, "Unauthorized", "Invalid or missing key/token in the Authorization header."
                )
            deployments = deployments_of(engine, doc["id"])
            deployments = {
                k: d
                for k, d in deployments.items()
                if d.get("properties", {}).get("provisioningState") == "Succeeded"
            }
            wanted = request.headers.get("azureml-model-deployment")
            chosen = choose(doc["properties"].get("traffic") or {}, wanted, deployments)
            if chosen is None:
                status = 404
                detail = f"deployment '{wanted}' was not found" if wanted else "no deployment has traffic"
                return _error(404, "NoValidDeployment", f"No valid deployments to route to: {detail}.")
            raw = await request.body()
            try:
                echo = json.loads(raw) if raw else None
            except ValueError:
                echo = raw.decode(errors="replace")
            status = 200
            return JSONResponse(
                {
                    "endpoint": doc["name"],
                    "deployment": chosen["name"],
                    "model": chosen.get("properties", {}).get("model"),
                    "region": region,
                    "input_echo": echo,
                },
                headers={"azureml-model-deployment": chosen["name"]},
            )
        finally:
            faults.record(SERVICE, region, "POST", path, status)

    @app.get("/score/{region}/{workspace}/{endpoint}/swagger.json")
    async def swagger(region: str, workspace: str, endpoint: str) -> Response:
        return JSONResponse(
            {
                "swagger": "2.0",
                "info": {"title": endpoint, "version": "1.0"},
                "paths": {"/score": {"post": {"responses": {"200": {"description": "scored"}}}}},
            }
        )
