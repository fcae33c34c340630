"""The ARM emulator's HTTP front: token endpoint, cloud metadata, control API, ARM routes.

Every ARM request goes: bearer token -> region -> fault engine -> :class:`Engine` -> log.
"""

from __future__ import annotations

import json
import time
import urllib.parse

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from foundry_dr_sandbox.arm.core.engine import Engine
from foundry_dr_sandbox.arm.core.errors import ArmError
from foundry_dr_sandbox.arm.core.ids import parse
from foundry_dr_sandbox.arm.core.provider import Reply
from foundry_dr_sandbox.arm.core.provider import Request as ArmRequest
from foundry_dr_sandbox.arm.core.store import Store
from foundry_dr_sandbox.arm.providers import load_providers
from foundry_dr_sandbox.config import LRO_PROFILES, SandboxConfig
from foundry_dr_sandbox.faults import FaultEngine
from foundry_dr_sandbox.tokens import issue_token, jwks, verify_authorization


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers or {})
    return JSONResponse(body, status_code=status, headers=headers or {})


def arm_error(exc: ArmError) -> Response:
    return _json(exc.status, exc.body(), exc.headers)


def create_arm_app(config: SandboxConfig, faults: FaultEngine, store: Store | None = None) -> FastAPI:
    store = store or Store(config.state_path)
    engine = Engine(config, store, load_providers())
    app = FastAPI(title="foundry-dr ARM emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    app.state.faults = faults

    # ---- identity --------------------------------------------------------------------------
    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def openid_configuration(tenant: str) -> Response:
        base = f"{config.authority}/{tenant}"
        return _json(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "NA",
            },
        )

    @app.get("/{tenant}/discovery/v2.0/keys")
    async def signing_keys(tenant: str) -> Response:
        # The jwks_uri above: the keys tokens are signed with (Microsoft identity platform,
        # "OpenID Connect on the Microsoft identity platform": fetch the signing keys from jwks_uri).
        if tenant != config.tenant_id:
            return _json(400, {"error": "invalid_tenant",
                               "error_description": f"AADSTS90002: Tenant '{tenant}' not found."})  # fmt: skip
        return _json(200, jwks(config))

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        # client-credentials form, parsed by hand (no python-multipart dependency)
        form = {k: v[0] for k, v in urllib.parse.parse_qs((await request.body()).decode()).items()}
        if tenant != config.tenant_id:
            faults.record("identity", None, "POST", f"/{tenant}/oauth2/v2.0/token", 400)
            return _json(
                400, {"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
            )
        issued = issue_token(
            config, str(form.get("client_id", "")), str(form.get("client_secret", "")), str(form.get("scope", ""))
        )
        if issued is None:
            faults.record("identity", None, "POST", f"/{tenant}/oauth2/v2.0/token", 401)
            return _json(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            )
        access_token, lifetime = issued
        faults.record("identity", None, "POST", f"/{tenant}/oauth2/v2.0/token", 200)
        return _json(
            200,
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access_token},
        )

    @app.get("/metadata/endpoints")
    async def metadata_endpoints() -> Response:
        arm = config.arm_endpoint
        return _json(
            200,
            {
                "name": "FoundryDrSandbox",
                "resourceManager": arm,
                "authentication": {
                    "loginEndpoint": config.authority,
                    "audiences": [arm],
                    "tenant": config.tenant_id,
                    "identityProvider": "AAD",
                },
                "portal": "https://portal.azure.com/",
                "suffixes": {
                    "storage": "core.windows.net",
                    "keyVaultDns": "vault.azure.net",
                    "acrLoginServer": "azurecr.io",
                },
            },
        )

    # ---- control API -----------------------------------------------------------------------
    @app.get("/_sandbox/health")
    async def health() -> Response:
        return _json(200, {"status": "ok", "time": time.time()})

    @app.get("/_sandbox/faults")
    async def get_faults() -> Response:
        return _json(200, faults.describe())

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> Response:
        try:
            return _json(200, faults.apply(await request.json()))
        except (ValueError, KeyError, TypeError) as exc:
            return _json(400, {"error": {"code": "InvalidFaultSpec", "message": str(exc)}})

    @app.post("/_sandbox/heal")
    async def heal() -> Response:
        faults.heal()
        return _json(200, faults.describe())

    @app.get("/_sandbox/requests")
    async def get_requests() -> Response:
        return _json(200, faults.read_log())

    @app.delete("/_sandbox/requests")
    async def clear_requests() -> Response:
        faults.clear_log()
        return _json(204, None)

    @app.get("/_sandbox/settings")
    async def get_settings() -> Response:
        names = ("page_size", "lro_delay", "lro_profile", "lro_scale", "contract_check", "quotas",
                 "asset_path_check")
        return _json(200, {n: store.get_setting(n) for n in names})

    @app.put("/_sandbox/settings")
    async def put_settings(request: Request) -> Response:
        body = await request.json()
        if not isinstance(body, dict):
            return _json(400, {"error": {"code": "InvalidSettings", "message": "expected a JSON object"}})
        if body.get("lro_profile") not in (None, *LRO_PROFILES):
            return _json(400, {"error": {"code": "InvalidSettings",
                                         "message": f"lro_profile must be one of {sorted(LRO_PROFILES)}"}})  # fmt: skip
        for name, value in body.items():
            store.set_setting(name, value)
        return _json(200, body)

    # ---- providers' own routes (scoring URIs, ...) -----------------------------------------
    for provider in engine.providers.values():
        if provider.register_routes:
            provider.register_routes(app, engine)

    # ---- ARM ---------------------------------------------------------------------------------
    @app.api_route("/subscriptions/{rest:path}", methods=["GET", "PUT", "PATCH", "DELETE", "POST", "HEAD"])
    async def arm(request: Request, rest: str) -> Response:
        method = request.method
        raw_path = request.url.path
        region = None
        status = 500
        principal = None
        body = None
        try:
            caller = verify_authorization(config, request.headers.get("authorization"))
            if caller is None:
                raise ArmError(
                    401,
                    "AuthenticationFailed" if request.headers.get("authorization") else "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or its bearer token is not valid.",
                    {
                        "WWW-Authenticate": f'Bearer authorization_uri="{config.authority}/{config.tenant_id}", '
                        'error="invalid_token", error_description="The authentication failed."'
                    },
                )
            principal = caller.principal
            path = parse(raw_path, method)
            raw = await request.body()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise ArmError(
                        400,
                        "InvalidRequestContent",
                        f"The request content was invalid and could not be deserialized: {exc}",
                    ) from exc
            region = engine.region_of_path(path, body)
            decision = await faults.decide("arm", region, method, raw_path)
            if decision is not None:
                raise ArmError(decision.status, decision.code, decision.message, decision.headers)
            host = request.headers.get("host") or f"127.0.0.1:{config.ports['arm']}"
            req = ArmRequest(method, path, raw_path, dict(request.query_params), body, caller, f"https://{host}")
            reply: Reply = engine.handle(req)
            status = reply.status
            return _json(reply.status, reply.body, {**reply.headers, "x-ms-request-id": _request_id()})
        except ArmError as exc:
            status = exc.status
            return arm_error(exc)
        finally:
            faults.record("arm", region, method, raw_path, status, principal, _logged(request, method, body))

    return app


# Request-body keys whose values are credentials (datastore account keys, connection secrets, SAS
# tokens): the log keeps their type, not their value, so a logged body still type-checks.
_SECRET_KEYS = frozenset({"key", "keys", "primarykey", "secondarykey", "accountkey", "sastoken", "password",
                          "clientsecret", "secret", "connectionstring", "token", "accesstoken"})  # fmt: skip


def _redact(value: object, key: str = "") -> object:
    if isinstance(value, dict):
        return {k: _redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if isinstance(value, str) and (key.lower() in _SECRET_KEYS or key.lower().endswith(("secret", "password"))):
        return "***"
    return value


def _logged(request: Request, method: str, body: object) -> dict:
    """What the request log adds for an ARM call: the api-version sent (the contract check reads the
    model of that version) and, for writes, the body as received, credentials redacted."""
    out: dict = {"api_version": request.query_params.get("api-version")}
    if method in ("PUT", "PATCH", "POST") and body is not None:
        out["body"] = _redact(body)
    return out


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())
