"""Remove credentials from URLs and free text before they reach logs, exceptions or artifacts.

Blob replication builds SAS URLs for every server-side copy; an SDK error, a log line or a
report that quotes such a URL would leak a bearer credential for the source data. Everything
that leaves ``tasks/storage.py`` as text passes through here first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

# SAS query parameters that are (or derive from) a secret: the signature, and the signed
# user-delegation key's identity fields, which are useless to a reader and noisy to leak.
_SECRET_PARAMS = {"sig", "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid"}
_SIG_IN_TEXT = re.compile(r"(?i)\b(sig|skoid|sktid|saoid|suoid)=([^&\s\"'<>]+)")
_ACCOUNT_KEY_IN_TEXT = re.compile(r"(?i)(AccountKey=)([^;\s\"'<>]+)")
_AUTH_HEADER = re.compile(r"(?i)(Authorization['\"]?\s*[:=]\s*['\"]?)(SharedKey|Bearer)\s+[^\s'\",]+")


def redact_url(url: str) -> str:
    """``url`` with the values of secret SAS parameters replaced by ``REDACTED``.

    The non-secret parts (account, container, blob, permissions, expiry) stay readable, so
    a redacted URL still says *which* blob and *what kind* of access an error was about.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.query:
        return url
    query = [(k, REDACTED if k.lower() in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:=")))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (an exception message, a log line) with SAS signatures, connection-string keys,
    Authorization headers and each of ``secrets`` (e.g. account keys) replaced."""
    out = _SIG_IN_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    out = _ACCOUNT_KEY_IN_TEXT.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    out = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    for secret in secrets:
        if secret and len(secret) >= 8:  # short strings would redact ordinary words
            out = out.replace(secret, REDACTED)
    return out
