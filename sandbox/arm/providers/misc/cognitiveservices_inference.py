"""The inference endpoint of each AI Services account: chat completions and embeddings for its
deployments (the Azure OpenAI data plane, ``{endpoint}/openai/deployments/{deployment}/...``).

Azure serves it at the account's own host (``https://{customSubDomainName}.openai.azure.com``);
the sandbox serves every account under its ARM front, ``{arm_endpoint}/_aoai/{customSubDomainName}``
(a sandbox mechanism: one origin on one machine). Authentication is Microsoft Entra ID only, a
bearer token for ``https://cognitiveservices.azure.com/.default`` (learn.microsoft.com, "How to
configure Azure OpenAI with Microsoft Entra ID authentication"); account keys are not served.

- ``POST .../openai/deployments/{d}/chat/completions`` -> a ``chat.completion`` (id, object, created,
  model, choices[{index, message{role, content}, finish_reason}], usage), the shape of the Azure OpenAI
  REST reference ("Chat completions - Create");
- ``POST .../openai/deployments/{d}/embeddings`` -> ``{object: list, data[{object: embedding, index,
  embedding}], model, usage}`` ("Embeddings - Create");
- a deployment the account does not have (or not yet Succeeded): 404 ``DeploymentNotFound`` "The API
  deployment for this resource does not exist. If you created the deployment within the last 5
  minutes, please wait a moment and try again." (as Azure answers: MicrosoftDocs/azure-docs#114013,
  chatboxai/chatbox#861); a chat call to an embeddings model (or the reverse): 400
  ``OperationNotSupported`` (the code customers report for it; the message here is the sandbox's).

Region outages and injected faults apply (service ``aoai``); every call is in the request log.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from foundry_dr_sandbox.fault_middleware import route_fault
from foundry_dr_sandbox.tokens import verify_authorization

if TYPE_CHECKING:
    from fastapi import FastAPI

    from foundry_dr_sandbox.arm.core.engine import Engine

SERVICE = "aoai"
AUDIENCE = "https://cognitiveservices.azure.com"
PREFIX = "/_aoai"


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _account(engine: Engine, subdomain: str) -> tuple[dict, dict] | None:
    from foundry_dr_sandbox.arm.providers.misc.cognitiveservices import ACCOUNTS

    for doc, meta in engine.store.by_type(ACCOUNTS):
        props = doc.get("properties") or {}
        if str(props.get("customSubDomainName") or doc["name"]).lower() == subdomain.lower():
            return doc, meta
    return None


def _deployment(engine: Engine, account_id: str, name: str) -> dict | None:
    found = engine.load(f"{account_id}/deployments/{name}")
    if found is None or (found.doc.get("properties") or {}).get("provisioningState") != "Succeeded":
        return None
    return found.doc


def _vector(text: str, size: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255.0, 6) for b in digest[:size]]


def register_routes(app: FastAPI, engine: Engine) -> None:
    @app.post(PREFIX + "/{subdomain}/openai/deployments/{deployment}/{operation:path}")
    async def infer(subdomain: str, deployment: str, operation: str, request: Request) -> Response:
        faults = request.app.state.faults
        path = request.url.path
        found = _account(engine, subdomain)
        region = found[1].get("region") if found else None
        fault = await route_fault(faults, SERVICE, region, request,
                                  lambda d: _error(d.status, d.code, d.message))
        if fault is not None:
            return fault
        status = 500
        try:
            caller = verify_authorization(engine.config, request.headers.get("authorization"))
            if caller is None or caller.audience.rstrip("/") != AUDIENCE:
                status = 401
                return _error(401, "401", "Unauthorized. Access token is missing, invalid, audience is incorrect "
                                          f"({AUDIENCE}), or have expired.")  # fmt: skip
            if found is None:
                status = 404
                return _error(404, "ResourceNotFound", f"No AI Services account has the subdomain '{subdomain}'.")
            doc = _deployment(engine, found[0]["id"], deployment)
            if doc is None:
                status = 404
                return _error(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If "
                              "you created the deployment within the last 5 minutes, please wait a moment and try "
                              "again.")  # fmt: skip
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                status = 400
                return _error(400, "BadRequest", "The request body is not valid JSON.")
            caps = (doc.get("properties") or {}).get("capabilities") or {}
            model = ((doc.get("properties") or {}).get("model") or {}).get("name", "")
            created = int(time.time())
            if operation == "chat/completions" and caps.get("chatCompletion") == "true":
                messages = body.get("messages") if isinstance(body, dict) else None
                last = str((messages or [{}])[-1].get("content", "")) if isinstance(messages, list) else ""
                status = 200
                return JSONResponse({
                    "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": created,
                    "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"[{region}/{deployment}] {last}"}}],
                    "usage": {"prompt_tokens": len(last.split()), "completion_tokens": 3,
                              "total_tokens": len(last.split()) + 3},
                }, headers={"x-ms-region": str(region)})  # fmt: skip
            if operation == "embeddings" and caps.get("embeddings") == "true":
                given = body.get("input") if isinstance(body, dict) else None
                inputs = given if isinstance(given, list) else [given or ""]
                status = 200
                return JSONResponse({
                    "object": "list", "model": model,
                    "data": [{"object": "embedding", "index": i, "embedding": _vector(str(t))}
                             for i, t in enumerate(inputs)],
                    "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
                }, headers={"x-ms-region": str(region)})  # fmt: skip
            status = 400
            return _error(400, "OperationNotSupported",
                          f"The {operation} operation does not work with the deployment '{deployment}' ({model}).")
        finally:
            faults.record(SERVICE, region, "POST", path, status)
