"""Contract check: read a request body with the REST model of the api-version sent, as the RP would.

The Azure SDKs ship swagger-generated models (msrest-style: ``_attribute_map`` with wire keys
and types, ``_validation`` with required and read-only fields, ``_subtype_map`` for
polymorphism); :mod:`api_versions` picks the model set of the version a request names (the
installed SDK's, or one kept in ``schemas/``, which adds each enum attribute's values). Walking a
body against it catches what a hand-built body (a rendered template, say) gets wrong: an unknown
property, a missing required one, a wrong type, a value outside an enum (``enum`` in the swagger;
an unknown discriminator value too) -> 400 InvalidRequestContent.

Read-only properties (swagger ``readOnly``) are found and returned, not refused: Microsoft's docs say
the service ignores them ("ARM template deployment what-if operation", Change types, NoEffect: "The
property is read-only and will be ignored by the service"; the generated models: "Variables are
only populated by the server, and will be ignored when sending a request"). Azure's spec validator
(oav, rule ``READONLY_PROPERTY_NOT_ALLOWED_IN_REQUEST``) flags them in requests, so the conformance
suite holds the product to sending none (tests/conformance/test_runbook_operations.py).
"""

from __future__ import annotations

import contextvars
import re
import sys
from typing import Any

from foundry_dr_sandbox.arm.core.errors import ArmError

_PRIMITIVES = {
    "str": str,
    "int": int,
    "long": int,
    "bool": bool,
    "float": (int, float),
    "iso-8601": str,
    "rfc-1123": str,
    "duration": str,
    "date": str,
    "unix-time": (int, str),
    "bytearray": str,
    "base64": str,
    "decimal": (int, float, str),
    "object": object,
}


def _split_key(wire_key: str) -> list[str]:
    """msrest flattens nested wire keys with dots; ``\\.`` is a literal dot."""
    return [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", wire_key)]


def _resolve(model_cls: type, type_name: str) -> type | None:
    module = sys.modules.get(model_cls.__module__)
    found = getattr(module, type_name, None) if module else None
    if found is None and module is not None:
        package = sys.modules.get(module.__name__.rsplit(".", 1)[0])
        found = getattr(package, type_name, None) if package else None
    return found if isinstance(found, type) else None


def _pick_subtype(model_cls: type, body: dict, problems: list[str] | None = None, path: str = "") -> type:
    subtype_map = getattr(model_cls, "_subtype_map", None) or {}
    for attr, mapping in subtype_map.items():
        wire = _split_key(model_cls._attribute_map[attr]["key"])[-1]
        value = body.get(wire)
        if value is not None and value in mapping:
            sub = _resolve(model_cls, mapping[value])
            if sub is not None and sub is not model_cls:
                return _pick_subtype(sub, body, problems, path)
        elif (
            value is not None
            and problems is not None
            and getattr(model_cls, "_enums", None) is not None
            and str(value).lower() not in {str(m).lower() for m in mapping}
        ):  # a discriminator names a subtype of the spec (kept model sets know them all)
            problems.append(f"'{_join(path, wire)}' value '{value}' is not one of {sorted(mapping)}")
    return model_cls


_IGNORE_UNKNOWN: contextvars.ContextVar[bool] = contextvars.ContextVar("ignore_unknown", default=False)
_READ_ONLY: contextvars.ContextVar[list[str]] = contextvars.ContextVar("read_only")


def check(model_cls: type, body: Any, where: str, ignore_unknown: bool = False) -> list[str]:
    """Raise ArmError(400, InvalidRequestContent) naming the first problem found in ``body``;
    else the paths of the read-only properties it sets, which the service ignores (see the module
    doc). ``ignore_unknown``: members the model does not declare are dropped, not refused (an RP
    that reads bodies leniently; see api_versions.VersionedModel.ignore_unknown)."""
    problems: list[str] = []
    read_only: list[str] = []
    tokens = _IGNORE_UNKNOWN.set(ignore_unknown), _READ_ONLY.set(read_only)
    try:
        _check_model(model_cls, body, "", problems)
    finally:
        _IGNORE_UNKNOWN.reset(tokens[0])
        _READ_ONLY.reset(tokens[1])
    if problems:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content for '{where}' was invalid and could not be deserialized: " + "; ".join(problems[:5]),
        )
    return read_only


def _check_model(model_cls: type, body: Any, path: str, problems: list[str]) -> None:
    if not isinstance(body, dict):
        problems.append(f"'{path or '$'}' must be an object")
        return
    if not hasattr(model_cls, "_attribute_map") and _is_model_base(model_cls):
        _check_model_base(model_cls, body, path, problems)
        return
    model_cls = _pick_subtype(model_cls, body, problems, path)
    attr_map: dict = getattr(model_cls, "_attribute_map", {}) or {}
    validation: dict = getattr(model_cls, "_validation", {}) or {}
    enums: dict = getattr(model_cls, "_enums", None) or {}
    tree: dict = {}
    for attr, spec in attr_map.items():
        node = tree
        parts = _split_key(spec["key"])
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = (attr, spec["type"])
    if any(spec["key"] == "" for spec in attr_map.values()):
        return  # additional-properties models accept anything
    _check_tree(model_cls, tree, body, path, problems)
    for attr, rules in validation.items():
        if rules.get("readonly") and attr in attr_map and _at(body, attr_map[attr]["key"]) is not None:
            _READ_ONLY.get().append(_join(path, attr_map[attr]["key"]))
    for attr, allowed in enums.items():  # RPs read enum values case-insensitively
        node = _at(body, attr_map[attr]["key"])
        known = {str(a).lower() for a in allowed}
        for value in node if isinstance(node, list) else [node]:
            if value is not None and str(value).lower() not in known:
                problems.append(f"'{_join(path, attr_map[attr]['key'])}' value '{value}' is not one of {allowed}")
    for attr, rules in validation.items():
        if rules.get("required") and not rules.get("readonly") and attr in attr_map:
            node: Any = body
            for part in _split_key(attr_map[attr]["key"]):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                problems.append(
                    f"Required property '{_join(path, attr_map[attr]['key'])}' not found on '{model_cls.__name__}'"
                )


def _at(body: Any, wire_key: str) -> Any:
    for part in _split_key(wire_key):
        body = body.get(part) if isinstance(body, dict) else None
    return body


def _check_tree(model_cls: type, tree: dict, body: dict, path: str, problems: list[str]) -> None:
    for wire, value in body.items():
        here = _join(path, wire)
        if wire not in tree:
            if not (_IGNORE_UNKNOWN.get() or getattr(model_cls, "_ignores_unknown_members", False)):
                problems.append(
                    f"Could not find member '{wire}' on object of type '{model_cls.__name__}'. Path '{here}'"
                )
            continue
        node = tree[wire]
        if isinstance(node, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                problems.append(f"'{here}' must be an object")
                continue
            _check_tree(model_cls, node, value, here, problems)
        else:
            _check_value(model_cls, node[1], value, here, problems)


def _check_value(model_cls: type, type_name: str, value: Any, path: str, problems: list[str]) -> None:
    if value is None:
        return
    if type_name.startswith("[") and type_name.endswith("]"):
        if not isinstance(value, list):
            problems.append(f"'{path}' must be an array")
            return
        for i, item in enumerate(value):
            _check_value(model_cls, type_name[1:-1], item, f"{path}[{i}]", problems)
        return
    if type_name.startswith("{") and type_name.endswith("}"):
        if not isinstance(value, dict):
            problems.append(f"'{path}' must be an object")
            return
        for k, item in value.items():
            _check_value(model_cls, type_name[1:-1], item, f"{path}.{k}", problems)
        return
    primitive = _PRIMITIVES.get(type_name)
    if primitive is not None:
        if primitive is object:
            return
        if (primitive is int and isinstance(value, bool)) or not isinstance(value, primitive):
            problems.append(f"'{path}' must be of type {type_name}, got {type(value).__name__}")
        return
    sub = _resolve(model_cls, type_name)
    if sub is None:
        return  # an enum (a str) or a type we cannot see: accept as Azure's lenient enums do
    if not hasattr(sub, "_attribute_map"):
        if not isinstance(value, str | int | float | bool):
            problems.append(f"'{path}' must be a value of {type_name}")
        return
    _check_model(sub, value, path, problems)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---- TypeSpec-generated models (azure-ai-ml's arm_ml_service, ``_utils.model_base``) ----------
# These declare fields with ``rest_field(name=...)`` and type them with annotations (strings such
# as ``"_models.ModelVersionProperties"``); polymorphism goes through ``__mapping__`` plus a
# ``rest_discriminator`` field; required keyword arguments of the first ``__init__`` overload are
# the required properties.


def _is_model_base(cls: type) -> bool:
    return any(hasattr(v, "_rest_name_input") for klass in cls.__mro__ for v in vars(klass).values())


def _mb_fields(cls: type) -> dict[str, tuple[str, Any, Any]]:
    """rest name -> (attribute, annotation, rest field) over the class and its bases."""
    import typing

    module = sys.modules.get(cls.__module__)
    package = sys.modules.get(cls.__module__.rsplit(".", 1)[0])
    globalns = {**(vars(module) if module else {}), "_models": package}
    fields: dict[str, tuple[str, Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        for attr, rf in vars(klass).items():
            if attr.startswith("_") or not hasattr(rf, "_rest_name_input"):
                continue
            raw = vars(klass).get("__annotations__", {}).get(attr)
            try:
                ref = typing.ForwardRef(raw) if isinstance(raw, str) else raw
                ann = typing._eval_type(ref, globalns, globalns)
            except Exception:  # noqa: BLE001 - an annotation we cannot read is accepted as anything
                ann = Any
            fields[rf._rest_name_input or attr] = (attr, ann, rf)
    return fields


def _mb_required(cls: type, fields: dict[str, tuple[str, Any, Any]]) -> list[str]:
    import inspect
    import typing

    try:
        overloads = typing.get_overloads(cls.__init__)
    except Exception:  # noqa: BLE001
        return []
    keyword = next((o for o in overloads if "mapping" not in inspect.signature(o).parameters), None)
    if keyword is None:
        return []
    by_attr = {attr: rest for rest, (attr, _, _) in fields.items()}
    return [
        by_attr[name]
        for name, p in inspect.signature(keyword).parameters.items()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty and name in by_attr
    ]


def _mb_subtype(cls: type, body: dict) -> type:
    mapping = getattr(cls, "__mapping__", None)
    if not mapping:
        return cls
    for rest, (_, _, rf) in _mb_fields(cls).items():
        if getattr(rf, "_is_discriminator", False) and body.get(rest) in mapping:
            sub = mapping[body[rest]]
            return sub if sub is cls else _mb_subtype(sub, body)
    return cls


def _check_model_base(cls: type, body: dict, path: str, problems: list[str]) -> None:
    cls = _mb_subtype(cls, body)
    fields = _mb_fields(cls)
    for wire, value in body.items():
        here = _join(path, wire)
        if wire not in fields:
            if not _IGNORE_UNKNOWN.get():
                problems.append(f"Could not find member '{wire}' on object of type '{cls.__name__}'. Path '{here}'")
            continue
        if value is not None and list(getattr(fields[wire][2], "_visibility", None) or []) == ["read"]:
            _READ_ONLY.get().append(here)
            continue
        _check_annotation(fields[wire][1], value, here, problems)
    for rest in _mb_required(cls, fields):
        if body.get(rest) is None:
            problems.append(f"Required property '{_join(path, rest)}' not found on '{cls.__name__}'")


def _check_annotation(ann: Any, value: Any, path: str, problems: list[str]) -> None:
    import datetime
    import enum
    import typing

    if value is None or ann is Any:
        return
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Union:
        arms = [a for a in args if a is not type(None)]
        for arm in arms:
            trial: list[str] = []
            _check_annotation(arm, value, path, trial)
            if not trial:
                return
        _check_annotation(arms[0], value, path, problems)  # report against the first arm
        return
    if origin is typing.Literal:
        return
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(value, list):
            problems.append(f"'{path}' must be an array")
            return
        for i, item in enumerate(value):
            _check_annotation(args[0] if args else Any, item, f"{path}[{i}]", problems)
        return
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, dict):
            problems.append(f"'{path}' must be an object")
            return
        for k, item in value.items():
            _check_annotation(args[1] if len(args) > 1 else Any, item, f"{path}.{k}", problems)
        return
    if not isinstance(ann, type):
        return
    if issubclass(ann, enum.Enum):
        if not isinstance(value, str | int):
            problems.append(f"'{path}' must be a value of {ann.__name__}")
        return
    if ann in (str, bytes, datetime.datetime, datetime.date, datetime.timedelta, datetime.time):
        if not isinstance(value, str):
            problems.append(f"'{path}' must be of type str, got {type(value).__name__}")
        return
    if ann is bool:
        if not isinstance(value, bool):
            problems.append(f"'{path}' must be of type bool, got {type(value).__name__}")
        return
    if ann in (int, float):
        wrong = isinstance(value, bool) or not isinstance(value, int | float)
        if wrong or (ann is int and isinstance(value, float)):
            problems.append(f"'{path}' must be of type {ann.__name__}, got {type(value).__name__}")
        return
    if _is_model_base(ann):
        if not isinstance(value, dict):
            problems.append(f"'{path}' must be an object")
            return
        _check_model_base(ann, value, path, problems)


def readonly_paths(model_cls: type | None, prefix: str = "", depth: int = 0) -> set[str]:
    """Wire paths (dotted) the REST model marks read-only (``_validation[attr]["readonly"]``):
    what an RP never takes from a request, so a template that sets them changes nothing. ARM's
    what-if reports such a property as ``NoEffect`` (PropertyChangeType: "The property will not
    be set or updated")."""
    if model_cls is None or depth > 6:
        return set()
    if not hasattr(model_cls, "_attribute_map"):
        return _mb_readonly_paths(model_cls, prefix, depth) if _is_model_base(model_cls) else set()
    out: set[str] = set()
    validation: dict = getattr(model_cls, "_validation", {}) or {}
    for attr, spec in (getattr(model_cls, "_attribute_map", {}) or {}).items():
        if not spec.get("key"):
            continue
        path = _join(prefix, ".".join(_split_key(spec["key"])))
        if (validation.get(attr) or {}).get("readonly"):
            out.add(path)
            continue
        inner = _resolve(model_cls, spec["type"]) if isinstance(spec.get("type"), str) else None
        if inner is not None and inner is not model_cls:
            out |= readonly_paths(inner, path, depth + 1)
    return out


def _mb_readonly_paths(cls: type, prefix: str, depth: int) -> set[str]:
    """:func:`readonly_paths` of a TypeSpec model: fields whose visibility is only "read"."""
    import typing

    out: set[str] = set()
    for rest, (_, ann, rf) in _mb_fields(cls).items():
        path = _join(prefix, rest)
        if list(getattr(rf, "_visibility", None) or []) == ["read"]:
            out.add(path)
            continue
        arms = [a for a in (typing.get_args(ann) or (ann,)) if isinstance(a, type) and a is not type(None)]
        for arm in arms:
            if arm is not cls and _is_model_base(arm):
                out |= readonly_paths(arm, path, depth + 1)
    return out
