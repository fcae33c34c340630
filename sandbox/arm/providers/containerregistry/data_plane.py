"""The slice of ACR's registry data plane that reads tags and manifests, for azure-containerregistry.

Served under ``/_acr/{loginServer}`` of the ARM front (a registry's own origin,
``https://{loginServer}``, cannot be had on this machine; ``ContainerRegistryClient`` accepts an
endpoint with a path). What it answers, and where that comes from:

* Authentication is ACR's OAuth2 exchange (Azure/acr, docs/AAD-OAuth.md, "Azure Container Registry
  OAuth2 authentication"; REST: specification/containerregistry/data-plane/Azure.ContainerRegistry/
  stable/2021-07-01/examples/PostRefreshToken.json and PostAccessToken.json). A request without a
  valid ACR access token gets 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``;
  the client trades its Entra ID token for a refresh token (``POST /oauth2/exchange``,
  ``grant_type=access_token``) and that for an access token scoped to the repository
  (``POST /oauth2/token``, ``grant_type=refresh_token``), then retries.
* ``GET /acr/v1/{name}/_tags/{reference}``: examples/GetTagAttributes.json.
* ``GET /acr/v1/{name}/_manifests/{digest}``: examples/GetManifestAttributes.json.
* Not found: 404 with the Docker Registry HTTP API v2 error body (``{"errors": [{"code", "message"}]}``,
  codes ``NAME_UNKNOWN`` for a repository, ``MANIFEST_UNKNOWN`` for a digest; ACR answers an unknown
  tag with ``TAG_UNKNOWN``, as seen in ACR's CLI output -- the exact code is not in the spec, and
  azure-core maps any 404 to ``ResourceNotFoundError``).

The repositories' contents are the registry resource's ``meta["repositories"]`` (what importImage
and the control API write). Tokens are signed like the sandbox's Entra ID tokens (HMAC, the
sandbox's key); any principal the sandbox knows may read (AcrPull / Reader), as RBAC is not
emulated per registry. Fault injection does not reach this slice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import JSONResponse

from foundry_dr_sandbox.arm.core.engine import Engine
from foundry_dr_sandbox.tokens import verify_authorization

PREFIX = "/_acr"
ACR_TOKEN_SECONDS = 3 * 3600  # ACR refresh tokens last 3 hours (AAD-OAuth.md); access tokens are shorter
# Entra ID audiences ACR accepts for the exchange: its own, and ARM's (AAD-OAuth.md; the SDK's
# DEFAULT_AUDIENCE is https://containerregistry.azure.net).
ACCEPTED_AUDIENCES = ("https://containerregistry.azure.net", "https://management.azure.com",
                      "https://management.core.windows.net")  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: str, claims: dict) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64(hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{sig}"


def _claims(key: str, token: str) -> dict | None:
    try:
        header, body, sig = token.split(".")
        expected = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(sig), expected):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        return None
    return claims if claims.get("exp", 0) >= time.time() else None


async def _form(request: HttpRequest) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the exchange endpoints take forms)."""
    return {k: v[0] for k, v in urllib.parse.parse_qs((await request.body()).decode()).items()}


def _errors(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"code": code, "message": message}]}, status_code=status, headers=headers)


def register_data_plane(app: FastAPI, engine: Engine, find_registry: Any) -> None:
    """Add the data-plane routes; ``find_registry(engine, login_server=...)`` finds a registry."""
    key = engine.config.token_signing_key

    def realm(request: HttpRequest, login: str) -> str:
        return f"https://{request.headers.get('host', '127.0.0.1')}{PREFIX}/{login}/oauth2/token"

    def challenge(request: HttpRequest, login: str, scope: str) -> JSONResponse:
        www = f'Bearer realm="{realm(request, login)}",service="{login}",scope="{scope}"'
        return _errors(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": www})

    def authorized(request: HttpRequest, login: str, repository: str) -> bool:
        auth = request.headers.get("authorization") or ""
        if not auth.lower().startswith("bearer "):
            return False
        claims = _claims(key, auth.split(" ", 1)[1].strip())
        if not claims or claims.get("kind") != "access" or claims.get("aud") != login:
            return False
        return any(a.get("name") == repository and {"metadata_read", "pull"} & set(a.get("actions", []))
                   for a in claims.get("access", []))  # fmt: skip

    def repository(request: HttpRequest, login: str, name: str) -> dict | JSONResponse:
        """The repository's tags and manifests, or the answer to give instead (a 401 challenge
        for the scope the metadata read needs; 404 NAME_UNKNOWN)."""
        if not authorized(request, login, name):
            return challenge(request, login, f"repository:{name}:metadata_read")
        found = find_registry(engine, login_server=login)
        repos = {} if found is None else found[1].get("repositories", {})
        if name not in repos:
            return _errors(404, "NAME_UNKNOWN", f"repository name not known to registry: {name}")
        return repos[name]

    @app.post(PREFIX + "/{login}/oauth2/exchange")
    async def exchange(login: str, request: HttpRequest) -> JSONResponse:
        form = await _form(request)
        if form.get("grant_type") != "access_token" or str(form.get("service", "")).lower() != login.lower():
            return _errors(400, "UNSUPPORTED", "grant_type must be access_token and service this registry")
        caller = verify_authorization(engine.config, f"Bearer {form.get('access_token', '')}")
        if caller is None or caller.audience.rstrip("/") not in ACCEPTED_AUDIENCES:
            return _errors(401, "UNAUTHORIZED", "the Entra ID access token is not valid for this registry")
        claims = {"kind": "refresh", "aud": login, "p": caller.principal, "exp": int(time.time()) + ACR_TOKEN_SECONDS}
        return JSONResponse({"refresh_token": _sign(key, claims)})

    @app.post(PREFIX + "/{login}/oauth2/token")
    async def token(login: str, request: HttpRequest) -> JSONResponse:
        form = await _form(request)
        refresh = _claims(key, str(form.get("refresh_token", "")))
        if form.get("grant_type") != "refresh_token" or not refresh or refresh.get("kind") != "refresh" \
                or refresh.get("aud") != login:
            return _errors(401, "UNAUTHORIZED", "the refresh token is not valid for this registry")
        access = []
        for scope in str(form.get("scope", "")).split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and name:
                access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        claims = {"kind": "access", "aud": login, "p": refresh["p"], "access": access,
                  "exp": int(time.time()) + ACR_TOKEN_SECONDS}  # fmt: skip
        return JSONResponse({"access_token": _sign(key, claims)})

    @app.get(PREFIX + "/{login}/acr/v1/{name:path}/_tags/{reference}")
    async def get_tag(login: str, name: str, reference: str, request: HttpRequest) -> JSONResponse:
        entry = repository(request, login, name)
        if isinstance(entry, JSONResponse):
            return entry
        digest = entry.get("tags", {}).get(reference)
        if digest is None:
            return _errors(404, "TAG_UNKNOWN", f"the specified tag does not exist: {reference}")
        return JSONResponse({
            "registry": login,
            "imageName": name,
            "tag": {"name": reference, "digest": digest, "createdTime": "2026-01-01T00:00:00Z",
                    "lastUpdateTime": "2026-01-01T00:00:00Z",
                    "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True,
                                             "listEnabled": True}},
        })  # fmt: skip

    @app.get(PREFIX + "/{login}/acr/v1/{name:path}/_manifests/{digest}")
    async def get_manifest(login: str, name: str, digest: str, request: HttpRequest) -> JSONResponse:
        entry = repository(request, login, name)
        if isinstance(entry, JSONResponse):
            return entry
        if digest not in entry.get("manifests", []):
            return _errors(404, "MANIFEST_UNKNOWN", f"manifest unknown: {digest}")
        tags = sorted(t for t, d in entry.get("tags", {}).items() if d == digest)
        return JSONResponse({
            "registry": login,
            "imageName": name,
            "manifest": {"digest": digest, "imageSize": 0, "createdTime": "2026-01-01T00:00:00Z",
                         "lastUpdateTime": "2026-01-01T00:00:00Z", "tags": tags,
                         "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True,
                                                  "listEnabled": True}},
        })  # fmt: skip
