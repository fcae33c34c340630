"""What a template what-if says, read the way ARM means it (pure).

Change types (Microsoft.Resources deployments spec, ``ChangeType``): Create, Delete, Ignore,
Deploy, NoChange, Modify, Unsupported. Property changes (``PropertyChangeType``): Create,
Delete, Modify, Array (nested ``children``), NoEffect ("The property will not be set or
updated": read-only properties the RP ignores).

Noise, which must not make every re-run ask for approval again, is of two kinds, both named in
Microsoft's docs and in the what-if team's tracker (Azure/arm-template-whatif):

* read-only properties: ``NoEffect`` ("ARM template deployment what-if operation", Change types:
  "The property is read-only and will be ignored by the service");
* defaulted properties: values the RP sets and returns that the template does not name, which
  what-if shows as a property ``Delete`` even on a no-op deployment ("Resource-provider default
  properties ... show as adds/removes even on a no-op deploy", Azure/arm-template-whatif#157;
  e.g. #275, ACR ``properties.dataEndpointEnabled`` and ``properties.encryption``). A ``Delete``
  at the top of the delta is such a property: the template leaves it out, and an RP re-applies
  its default on a PUT. A ``Delete`` inside an ``Array`` the template sets is a real removal,
  and so is a dropped tag.

A Modify whose every property change is noise changes nothing: it reads as NoChange.
Unsupported means what-if cannot tell: it is reported and needs approval, never read as "no
change". A what-if whose ``status`` is Failed, or that carries an ``error``, is a failure.
"""

from __future__ import annotations

from typing import Any

NO_CHANGE = frozenset({"NoChange", "Ignore"})
CHANGE_TYPES = frozenset({"Create", "Delete", "Ignore", "Deploy", "NoChange", "Modify", "Unsupported"})


def _is_tag(change: dict[str, Any]) -> bool:
    """Tags are the caller's, never an RP default: a tag the template drops is really removed (the
    what-if doc's own example: ``- tags.Owner: "Team A"``)."""
    return str(change.get("path") or "").split(".", 1)[0] == "tags"


def _kind(change: dict[str, Any]) -> str:
    return str(change.get("propertyChangeType") or change.get("property_change_type") or "")


def effective_paths(delta: list[dict[str, Any]], _nested: bool = False) -> list[str]:
    """Paths of the property changes that take effect: NoEffect (read-only) ones and top-level
    Deletes (defaulted properties the template leaves out) removed, arrays opened."""
    out: list[str] = []
    for change in delta or []:
        kind = _kind(change)
        if kind == "NoEffect" or (kind == "Delete" and not _nested and not _is_tag(change)):
            continue
        if kind == "Array" and change.get("children"):
            nested = effective_paths(change["children"], _nested=True)
            out += [f"{change.get('path')}{'' if p.startswith('[') else '.'}{p}" for p in nested]
            continue
        out.append(str(change.get("path")))
    return out


def noise_paths(delta: list[dict[str, Any]]) -> list[str]:
    """Paths of the property changes that are noise (reported, never approved): read-only
    (NoEffect) and defaulted (a top-level Delete) properties."""
    noisy = [c for c in delta or [] if _kind(c) == "NoEffect" or (_kind(c) == "Delete" and not _is_tag(c))]
    return [str(c.get("path")) for c in noisy]


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
