"""Spot credentials in text: plans, logs, reports, artifacts.

Secrets never belong in a plan (credentials come from azure-identity), and a runbook
report must never leak one (foundry_dr/redact.py masks what this finds). The detector
reports the *kind* of secret found, never the value, so its own output is safe to print.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# (kind, pattern). Ordered from most to least specific; each kind is reported once.
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("connection string with AccountKey", re.compile(r"AccountKey\s*=", re.IGNORECASE)),
    ("shared access signature", re.compile(r"SharedAccessSignature", re.IGNORECASE)),
    (
        "SAS token",
        re.compile(r"(?:^|[?&;\s\"'])sig=[A-Za-z0-9%+/=_-]{8,}|\bsv=\d{4}-\d{2}-\d{2}[^\s]*&sig=", re.I),
    ),
    # 64 random bytes in base64 = 88 characters ending "==" (storage/ACR/Cosmos keys).
    ("account key", re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{84,86}==(?![A-Za-z0-9+/=])")),
    ("bearer token (JWT)", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    ("bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*")),
    # Entra ID client secrets: 3 chars, a digit, "Q~", then 31-34 chars.
    ("client secret", re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}")),
    (
        "secret assignment",
        re.compile(
            r"\b(?:client[_-]?secret|password|passwd|api[_-]?key|account[_-]?key|access[_-]?key"
            r"|sas[_-]?token)\b\s*[=:]\s*[\"']?[^\s\"'&;,]{6,}",
            re.IGNORECASE,
        ),
    ),
    ("credentials in URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)),
)

# Mapping keys whose mere presence with a value means a secret was pasted in.
_SECRET_KEY = re.compile(
    r"(?:client[_-]?secret|secret|password|passwd|pwd|account[_-]?key|access[_-]?key|api[_-]?key"
    r"|sas(?:[_-]?token)?|connection[_-]?string|token|bearer|credentials?|private[_-]?key)",
    re.IGNORECASE,
)


def find_secrets(text: str) -> list[str]:
    """Kinds of secret that ``text`` appears to contain (empty if none). Never the values."""
    return [kind for kind, pattern in SECRET_PATTERNS if pattern.search(text)]


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (``client_secret``, ``AccountKey``, ``sas_token``...)."""
    return bool(_SECRET_KEY.fullmatch(key))


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Yield (path, key, value) for every leaf and mapping entry of a YAML/JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, key, value
            yield from _walk(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            child = f"{path}[{index}]"
            yield child, None, value
            yield from _walk(value, child)


def scan_tree(tree: Any) -> dict[str, list[str]]:
    """Secret kinds found in a parsed YAML/JSON document, keyed by dotted path (``a.b[2].c``).

    Walks the raw tree rather than a model so it catches secrets in any field, including
    unknown ones that the schema would reject anyway.
    """
    found: dict[str, list[str]] = {}
    if isinstance(tree, str):
        kinds = find_secrets(tree)
        return {"": kinds} if kinds else {}
    for path, key, value in _walk(tree, ""):
        kinds: list[str] = []
        if isinstance(key, str):
            kinds += [f"{kind} in a key" for kind in find_secrets(key)]
            if is_secret_key(key) and value not in (None, "", [], {}):
                kinds.append(f"credential field {key!r}")
        if isinstance(value, str):
            kinds += find_secrets(value)
        if kinds:
            found[path] = kinds
    return found
