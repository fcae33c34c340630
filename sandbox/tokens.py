"""Bearer tokens of the sandbox: issued by its token endpoint, checked by every front.

Tokens are JWTs signed RS256 with the sandbox's RSA key (in ``sandbox.json``), as Microsoft
Entra ID signs them: the header names the key (``kid``), and the public keys are served at the
``jwks_uri`` of the tenant's OpenID configuration (``/{tenant}/discovery/v2.0/keys``), so a
receiver can validate a token the way it would validate Entra's ("Access tokens: validate
tokens", Microsoft identity platform docs: signature by kid from the OpenID configuration's
jwks_uri, then issuer and audience). A restarted emulator keeps its key, so it still accepts
the tokens it issued before (a client keeps its token cache across an emulator restart, as it
would across an Azure front-end failover).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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


def new_signing_key() -> str:
    """A fresh RSA private key (PEM), the sandbox's token signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()  # fmt: skip


@lru_cache(maxsize=8)
def _keys(pem: str) -> tuple[Any, Any, str]:
    """(private key, public key, kid) of a PEM; parsed once per process."""
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    public = private.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = _b64(hashlib.sha256(der).digest()[:20])  # Entra's kid is the key's x5t thumbprint: opaque to clients
    return private, public, kid


def issuer(config: SandboxConfig) -> str:
    """The v2.0 issuer of the sandbox tenant, as in Entra's OpenID configuration."""
    return f"{config.authority}/{config.tenant_id}/v2.0"


def jwks(config: SandboxConfig) -> dict[str, Any]:
    """The tenant's signing keys, shaped like Entra's ``discovery/v2.0/keys`` document."""
    _, public, kid = _keys(config.token_rsa_key)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    return {"keys": [{"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": jwk["n"], "e": jwk["e"],
                      "issuer": issuer(config)}]}  # fmt: skip


def issue_token(config: SandboxConfig, client_id: str, client_secret: str, scope: str) -> tuple[str, int] | None:
    """A signed token for a known client id/secret pair, or None when they do not match.

    Claims as in an Entra v2.0 access token (aud from the scope's resource, iss, tid, oid,
    appid, iat/nbf/exp), plus ``p``: which sandbox principal it is."""
    for name, principal in config.principals.items():
        if hmac.compare_digest(principal.client_id, client_id) and hmac.compare_digest(
            principal.client_secret, client_secret
        ):
            audience = scope.split()[0].removesuffix("/.default") if scope else ""
            now = int(time.time())
            claims = {
                "p": name,
                "oid": principal.object_id,
                "sub": principal.object_id,
                "appid": principal.client_id,
                "azp": principal.client_id,
                "aud": audience,
                "iss": issuer(config),
                "iat": now,
                "nbf": now,
                "exp": now + TOKEN_LIFETIME_SECONDS,
                "tid": config.tenant_id,
                "ver": "2.0",
            }
            private, _, kid = _keys(config.token_rsa_key)
            return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid}), TOKEN_LIFETIME_SECONDS
    return None


def verify_authorization(config: SandboxConfig, authorization: str | None) -> Caller | None:
    """The caller behind an ``Authorization: Bearer ...`` header, or None if it is not valid."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    token = authorization.split(" ", 1)[1].strip()
    _, public, _ = _keys(config.token_rsa_key)
    try:
        claims = jwt.decode(token, public, algorithms=["RS256"], issuer=issuer(config),
                            options={"verify_aud": False, "require": ["exp", "iss", "tid"]})  # fmt: skip
    except jwt.PyJWTError:
        return None
    if claims.get("tid") != config.tenant_id:
        return None
    principal = config.principals.get(claims.get("p", ""))
    if principal is None:
        return None
    return Caller(claims["p"], principal.client_id, principal.object_id, principal.role, claims.get("aud", ""))
