"""Bearer tokens of the sandbox: issued by its token endpoint, checked by every front.

Tokens are HMAC-signed with the sandbox's signing key (in ``sandbox.json``), so a restarted
emulator still accepts the tokens it issued before (a client keeps its token cache across
an emulator restart, as it would across an Azure front-end failover).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from foundry_dr_sandbox.config import SandboxConfig

TOKEN_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class Caller:
    principal: str  # "owner" | "reader"
    client_id: str
    object_id: str
    role: str  # "Owner" | "Reader"
    audience: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(config: SandboxConfig, client_id: str, client_secret: str, scope: str) -> tuple[str, int] | None:
    """A signed token for a known client id/secret pair, or None when they do not match."""
    for name, principal in config.principals.items():
        if hmac.compare_digest(principal.client_id, client_id) and hmac.compare_digest(
            principal.client_secret, client_secret
        ):
            audience = scope.split()[0].removesuffix("/.default") if scope else ""
            claims = {
                "p": name,
                "oid": principal.object_id,
                "appid": principal.client_id,
                "aud": audience,
                "exp": int(time.time()) + TOKEN_LIFETIME_SECONDS,
                "tid": config.tenant_id,
            }
            header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            body = _b64(json.dumps(claims, separators=(",", ":")).encode())
            sig = _b64(
                hmac.new(config.token_signing_key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
            )
            return f"{header}.{body}.{sig}", TOKEN_LIFETIME_SECONDS
    return None


def verify_authorization(config: SandboxConfig, authorization: str | None) -> Caller | None:
    """The caller behind an ``Authorization: Bearer ...`` header, or None if it is not valid."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    token = authorization.split(" ", 1)[1].strip()
    try:
        header, body, sig = token.split(".")
        expected = hmac.new(config.token_signing_key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(sig), expected):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        return None
    if claims.get("exp", 0) < time.time() or claims.get("tid") != config.tenant_id:
        return None
    principal = config.principals.get(claims.get("p", ""))
    if principal is None:
        return None
    return Caller(claims["p"], principal.client_id, principal.object_id, principal.role, claims.get("aud", ""))
