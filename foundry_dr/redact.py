"""The one redactor: credentials out of free text before it reaches logs, exceptions, reports
or the terminal.

Blob replication builds SAS URLs for every server-side copy; an SDK error, a log line or a
report that quotes such a URL would leak a bearer credential for the source data. So every
text that leaves the replication engine, a task, a report or the CLI passes through
:func:`redact_text`. SAS parameters keep their names (``sig=REDACTED``), so a redacted URL still
says which blob and what kind of access an error was about; everything else that
:mod:`foundry_dr.secrets_scan` recognises as a secret is replaced by the same mask.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from foundry_dr.secrets_scan import SECRET_PATTERNS

REDACTED = "REDACTED"

# SAS query parameters that are (or derive from) a secret: the signature, and the signed
# user-delegation key's identity fields, which are useless to a reader and noisy to leak.
_SIG_IN_TEXT = re.compile(r"(?i)\b(sig|skoid|sktid|saoid|suoid)=([^&\s\"'<>]+)")
_ACCOUNT_KEY_IN_TEXT = re.compile(r"(?i)(AccountKey=)([^;\s\"'<>]+)")
_AUTH_HEADER = re.compile(r"(?i)(Authorization['\"]?\s*[:=]\s*['\"]?)(SharedKey|Bearer)\s+[^\s'\",]+")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (an exception message, a log line) with SAS signatures, connection-string keys,
    Authorization headers and each of ``secrets`` (e.g. account keys) replaced."""
    out = _SIG_IN_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    out = _ACCOUNT_KEY_IN_TEXT.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    out = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    for _, pattern in SECRET_PATTERNS:
        out = pattern.sub(REDACTED, out)
    for secret in secrets:
        if secret and len(secret) >= 8:  # short strings would redact ordinary words
            out = out.replace(secret, REDACTED)
    return out
