"""What a template what-if says, read the way ARM means it (pure).

Change types (Microsoft.Resources deployments spec, ``ChangeType``): Create, Delete, Ignore,
Deploy, NoChange, Modify, Unsupported. Property changes (``PropertyChangeType``): Create,
Delete, Modify, Array (nested ``children``), NoEffect ("The property will not be set or
updated": read-only properties the RP ignores). A Modify whose every property change is
NoEffect changes nothing: it is noise, and must not make every re-run ask for approval again.
Unsupported means what-if cannot tell: it is reported and needs approval, never read as "no
change". A what-if whose ``status`` is Failed, or that carries an ``error``, is a failure.
"""

from __future__ import annotations

from typing import Any

NO_CHANGE = frozenset({"NoChange", "Ignore"})
CHANGE_TYPES = frozenset({"Create", "Delete", "Ignore", "Deploy", "NoChange", "Modify", "Unsupported"})


def effective_paths(delta: list[dict[str, Any]]) -> list[str]:
    """Paths of the property changes that take effect (NoEffect ones removed, arrays opened)."""
    out: list[str] = []
    for change in delta or []:
        kind = str(change.get("propertyChangeType") or change.get("property_change_type") or "")
        if kind == "NoEffect":
            continue
        if kind == "Array" and change.get("children"):
            nested = effective_paths(change["children"])
            out += [f"{change.get('path')}{'' if p.startswith('[') else '.'}{p}" for p in nested]
            continue
        out.append(str(change.get("path")))
    return out


def classify(change: dict[str, Any]) -> str:
    """The change type that counts: a Modify of NoEffect properties only is "NoChange"."""
    kind = str(change.get("change_type"))
    if kind == "Modify" and change.get("delta") is not None and not effective_paths(change["delta"]):
        return "NoChange"
    return kind


def needs_approval(changes: list[dict[str, Any]]) -> bool:
    return any(classify(c) not in NO_CHANGE for c in changes)


def summarize(changes: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in changes:
        kind = classify(c)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def failure(status: str | None, error: dict[str, Any] | None) -> str | None:
    """Why the what-if failed (status Failed, or an error), or None."""
    if error:
        code, message = error.get("code"), error.get("message")
        details = "; ".join(f"{d.get('code')}: {d.get('message')}" for d in error.get("details") or [])
        return f"{code}: {message}" + (f" ({details})" if details else "")
    if status and str(status).lower() == "failed":
        return "the what-if operation failed (status Failed, no error given)"
    return None
