"""Who may call the alert receiver: Azure Monitor's secure webhook, or a shared secret.

Azure Monitor action-group webhooks cannot add custom headers. The documented ways to
authenticate them are:

- **Secure webhook** (webhook receiver with ``useAadAuth: true``, ``identifierUri``,
  ``tenantId``): the action group service gets a Microsoft Entra ID access token for the
  receiver's application (audience = its Application ID URI) and sends it as
  ``Authorization: Bearer``. Azure Monitor docs: "Action groups", section "Secure webhook";
  Monitor REST ``ActionGroups`` ``WebhookReceiver`` (useAadAuth, identifierUri, tenantId).
  The token is validated as the Microsoft identity platform says ("Access tokens": validate
  the signature with the key named by ``kid`` from the ``jwks_uri`` of the tenant's OpenID
  configuration, then the issuer, the audience and the lifetime).
- **Shared secret in the URL** (a plain webhook receiver carries only a URL): ``?secret=``.
  The ``X-Foundry-DR-Secret`` header is still accepted for callers that can set headers
  (curl, Logic Apps, an API gateway).
"""

from __future__ import annotations

import hmac
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from azure.identity import AzureAuthorityHosts

from foundry_dr.errors import TriggerConfigError

SECRET_ENV = "FOUNDRY_DR_TRIGGER_SECRET"
SECRET_HEADER = "X-Foundry-DR-Secret"
SECRET_QUERY = "secret"
TENANT_ENV = "FOUNDRY_DR_TRIGGER_TENANT_ID"
AUDIENCE_ENV = "FOUNDRY_DR_TRIGGER_AUDIENCE"
AUTHORITY_ENV = "FOUNDRY_DR_TRIGGER_AUTHORITY"
CA_BUNDLE_ENV = "FOUNDRY_DR_TRIGGER_CA_BUNDLE"
PUBLIC_AUTHORITY = f"https://{AzureAuthorityHosts.AZURE_PUBLIC_CLOUD}"
MIN_SECRET_LENGTH = 16
JWKS_LIFETIME_SECONDS = 3600  # Entra rotates keys with overlap; an unknown kid refetches anyway
KEY_REFETCH_COOLDOWN_SECONDS = 5  # a burst of unknown kids must not hammer the authority


class Unauthorized(Exception):
    """The request does not prove it comes from the configured caller; the text says why
    (for the receiver's log only: the answer is a bare 401)."""


@dataclass
class EntraTokenValidator:
    """Validates Entra ID access tokens for one application (audience) in one tenant. The signing
    keys are PyJWT's ``PyJWKClient``'s: cached, and fetched again (after a cooldown) for a kid
    the cached set lacks, as after Entra rotates its keys."""

    tenant_id: str
    audience: str
    authority: str = PUBLIC_AUTHORITY
    ca_bundle: str | None = None
    _issuer: str | None = field(default=None, repr=False)
    _keys: Any = field(default=None, repr=False)  # a jwt.PyJWKClient on the configuration's jwks_uri
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def openid_configuration_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant_id}/v2.0/.well-known/openid-configuration"

    def issuers(self) -> set[str]:
        """The v2.0 issuer from the OpenID configuration, and the v1.0 issuer Entra writes
        into tokens of applications that keep ``accessTokenAcceptedVersion`` 1 (the default):
        ``https://sts.windows.net/{tenant}/`` in the public cloud."""
        self._discover()
        found = {self._issuer} if self._issuer else set()
        if self.authority.rstrip("/") == PUBLIC_AUTHORITY:
            found.add(f"https://sts.windows.net/{self.tenant_id}/")
        return found

    def validate(self, token: str) -> dict[str, Any]:
        """The token's claims; :class:`Unauthorized` naming the failed check otherwise. The tenant's
        keys being unreachable is not Unauthorized (the receiver answers 503, retry)."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"not a JWT: {exc}") from exc
        if header.get("alg") != "RS256":
            raise Unauthorized(f"token algorithm {header.get('alg')!r} is not RS256")
        try:
            key = self._discover().get_signing_key(str(header.get("kid", ""))).key
        except jwt.PyJWKClientConnectionError:
            raise
        except jwt.PyJWKClientError as exc:
            raise Unauthorized(f"no signing key {header.get('kid')!r} in the tenant's keys") from exc
        try:
            return jwt.decode(token, key, algorithms=["RS256"], audience=self.audience, issuer=self.issuers(),
                              options={"require": ["exp", "iss", "aud"]}, leeway=60)  # fmt: skip
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized(f"wrong audience (expected {self.audience})") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized(f"wrong issuer (expected one of {sorted(self.issuers())})") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"{type(exc).__name__}: {exc}") from exc

    def _discover(self) -> Any:
        """The key client, made once from the tenant's OpenID configuration (its issuer and jwks_uri)."""
        with self._lock:
            if self._keys is None:
                import ssl

                import jwt
                import requests

                answer = requests.get(self.openid_configuration_url, timeout=10, verify=self.ca_bundle or True)
                answer.raise_for_status()
                document = answer.json()
                context = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else None
                self._issuer = document.get("issuer")
                self._keys = jwt.PyJWKClient(document["jwks_uri"], lifespan=JWKS_LIFETIME_SECONDS, timeout=10,
                                             ssl_context=context, cooldown_duration=KEY_REFETCH_COOLDOWN_SECONDS)
            return self._keys


@dataclass
class ReceiverAuth:
    """What the receiver accepts: a shared secret, an Entra token validator, or both."""

    secret: str | None = None
    entra: EntraTokenValidator | None = None

    def check(self, headers: Any, query: Any) -> str:
        """How the caller authenticated ("entra" / "secret"); :class:`Unauthorized` otherwise."""
        authorization = headers.get("authorization") or ""
        if authorization.lower().startswith("bearer "):
            if self.entra is None:
                raise Unauthorized("a bearer token was sent but no tenant/audience is configured")
            self.entra.validate(authorization.split(" ", 1)[1].strip())
            return "entra"
        given = headers.get(SECRET_HEADER) or query.get(SECRET_QUERY) or ""
        if self.secret and given and hmac.compare_digest(given.encode(), self.secret.encode()):
            return "secret"
        raise Unauthorized("no valid bearer token or shared secret")


def auth_from_env(environ: dict[str, str] | None = None) -> ReceiverAuth:
    """The receiver's auth from its environment; :class:`TriggerConfigError` naming the
    variables when neither way is configured (or the secret is weak)."""
    env = os.environ if environ is None else environ
    secret = env.get(SECRET_ENV) or None
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise TriggerConfigError(
            f"{SECRET_ENV} must be a shared secret of at least {MIN_SECRET_LENGTH} characters "
            "(e.g. `openssl rand -hex 32`)"
        )
    tenant, audience = env.get(TENANT_ENV), env.get(AUDIENCE_ENV)
    if bool(tenant) != bool(audience):
        raise TriggerConfigError(f"secure webhook needs both {TENANT_ENV} and {AUDIENCE_ENV} (the action group's "
                                 "tenantId and identifierUri)")  # fmt: skip
    entra = (
        EntraTokenValidator(tenant, audience, env.get(AUTHORITY_ENV) or PUBLIC_AUTHORITY, env.get(CA_BUNDLE_ENV))
        if tenant and audience else None
    )
    if secret is None and entra is None:
        raise TriggerConfigError(
            f"the receiver does not start unauthenticated: set {TENANT_ENV} and {AUDIENCE_ENV} (Azure Monitor secure "
            f"webhook), or {SECRET_ENV} (a shared secret of at least {MIN_SECRET_LENGTH} characters, sent in the "
            f"webhook URL as ?{SECRET_QUERY}=... or in the {SECRET_HEADER} header)"
        )
    return ReceiverAuth(secret=secret, entra=entra)

