"""Literal ARM templates: validation and the dependsOn-ordered plan of resources to create.

The sandbox deploys *rendered* templates only. ARM would evaluate ``[parameters('x')]`` and
friends; we refuse them (400 ``InvalidTemplate`` naming the expression and where it is) so a
runbook that forgets to render a value fails here as loudly as a wrong value would in Azure.
``[[`` escapes a literal leading bracket, as in ARM, and is unescaped before use.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from foundry_dr_sandbox.arm.core.errors import ArmError
from foundry_dr_sandbox.arm.core.ids import key

# Template-only keys of a resource: everything else is the resource's request body.
TEMPLATE_KEYS = {
    "type",
    "name",
    "apiVersion",
    "dependsOn",
    "resources",
    "condition",
    "copy",
    "comments",
    "scope",
}
ALLOWED_SECTIONS = {"$schema", "contentVersion", "resources", "outputs", "metadata", "apiProfile"}


def invalid_template(message: str) -> ArmError:
    return ArmError(400, "InvalidTemplate", f"Deployment template validation failed: '{message}'.")


@dataclass
class Planned:
    """One template resource, resolved to an id and a request body."""

    index: int  # position in the flattened template
    where: str  # template path, e.g. resources[1].resources[0]
    full_type: str  # Microsoft.X/a/b
    name: str  # parent/child
    api_version: str
    resource_id: str
    body: dict
    depends_on: list[str] = field(default_factory=list)  # resource ids (normalized keys)

    @property
    def type_and_name(self) -> str:
        return f"{self.full_type}/{self.name}"


def is_expression(value: str) -> bool:
    """ARM evaluates strings in brackets; ``[[`` is the escape for a literal bracket."""
    return value.startswith("[") and not value.startswith("[[") and value.rstrip().endswith("]")


def _literal(value: object, where: str, owner: str) -> object:
    """Check a JSON value for expressions and unescape ``[[`` (what ARM does to literals)."""
    if isinstance(value, str):
        if is_expression(value):
            raise invalid_template(
                f"The template resource '{owner}' at '{where}' uses the template expression '{value}'. "
                "The foundry-dr sandbox deploys literal templates only: render parameters, variables and "
                "functions to values before deploying (escape a literal leading '[' as '[[')"
            )
        return value[1:] if value.startswith("[[") else value
    if isinstance(value, list):
        return [_literal(v, f"{where}[{i}]", owner) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            name = _literal(k, f"{where}.{k}", owner)
            out[name] = _literal(v, f"{where}.{k}", owner)
        return out
    return value


def _resource_id(sub: str, rg: str, full_type: str, name: str, where: str) -> str:
    parts = full_type.split("/")
    names = name.split("/")
    if len(parts) < 2 or "." not in parts[0]:
        raise invalid_template(
            f"The resource type '{full_type}' at '{where}' is not a valid 'Namespace/type' form"
        )
    if len(names) != len(parts) - 1 or not all(names):
        raise invalid_template(
            f"The template resource '{name}' at '{where}' of type '{full_type}' must have "
            f"{len(parts) - 1} name "
            f"segment(s) (one per type segment: 'parent/child'), it has {len(names)}"
        )
    rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{parts[0]}"
    for t, n in zip(parts[1:], names, strict=True):
        rid += f"/{t}/{n}"
    return rid


def _flatten(resources: object, where: str, parent: tuple[str, str] | None, out: list[dict]) -> None:
    """Nested ``resources`` arrays become top-level entries with full type and name."""
    if not isinstance(resources, list):
        raise invalid_template(f"'{where}' must be an array of resources")
    for i, res in enumerate(resources):
        here = f"{where}[{i}]"
        if not isinstance(res, dict):
            raise invalid_template(f"The template resource at '{here}' must be an object")
        rtype, name = res.get("type"), res.get("name")
        if not isinstance(rtype, str) or not isinstance(name, str):
            raise invalid_template(
                f"The template resource at '{here}' needs string 'type' and 'name' properties"
            )
        for field_name in ("type", "name", "apiVersion"):
            if isinstance(res.get(field_name), str) and is_expression(res[field_name]):
                raise invalid_template(
                    f"The template resource at '{here}' uses the template expression '{res[field_name]}' in "
                    f"'{field_name}'. The foundry-dr sandbox deploys literal templates only"
                )
        if parent is not None and "." not in rtype.split("/")[0]:
            # child written relative to its parent: type "b", name "child"
            rtype, name = f"{parent[0]}/{rtype}", f"{parent[1]}/{name}"
        entry = dict(res)
        entry["type"], entry["name"], entry["_where"] = rtype, name, here
        deps = list(res.get("dependsOn") or [])
        if parent is not None:
            deps.append(f"{parent[0]}/{parent[1]}")  # a nested child needs its parent first
        entry["dependsOn"] = deps
        out.append(entry)
        if "resources" in res:
            _flatten(res["resources"], f"{here}.resources", (rtype, name), out)


def plan(template: object, sub: str, rg: str) -> list[Planned]:
    """Validate a literal template and return its resources in an order that honours dependsOn."""
    if not isinstance(template, dict):
        raise invalid_template("The template must be a JSON object")
    for section in ("parameters", "variables", "functions"):
        if template.get(section):
            raise invalid_template(
                f"The template section '{section}' is not supported by the foundry-dr sandbox: it deploys "
                "literal templates only (render the values into the resources)"
            )
    unknown = set(template) - ALLOWED_SECTIONS - {"parameters", "variables", "functions"}
    if unknown:
        raise invalid_template(f"The template has unknown top-level properties: {sorted(unknown)}")
    if not isinstance(template.get("$schema"), str) or not isinstance(template.get("contentVersion"), str):
        raise invalid_template("The template must have '$schema' and 'contentVersion' strings")
    flat: list[dict] = []
    _flatten(template.get("resources", []), "resources", None, flat)

    planned: list[Planned] = []
    by_key: dict[str, Planned] = {}
    for i, res in enumerate(flat):
        where = res["_where"]
        owner = f"{res['type']}/{res['name']}"
        if res.get("copy") is not None:
            raise invalid_template(
                f"The template resource '{owner}' at '{where}' uses 'copy'; render the loop"
            )
        if res.get("scope") is not None:
            raise invalid_template(
                f"The template resource '{owner}' at '{where}' uses 'scope'; "
                "the sandbox deploys at resource-group scope only"
            )
        if not isinstance(res.get("apiVersion"), str):
            raise invalid_template(f"The template resource '{owner}' at '{where}' needs an 'apiVersion'")
        body = {k: v for k, v in res.items() if k not in TEMPLATE_KEYS and k != "_where"}
        body = _literal(copy.deepcopy(body), where, owner)
        _literal(res.get("dependsOn"), f"{where}.dependsOn", owner)
        p = Planned(
            i,
            where,
            res["type"],
            res["name"],
            res["apiVersion"],
            _resource_id(sub, rg, res["type"], res["name"], where),
            body,
        )  # type: ignore[arg-type]
        if key(p.resource_id) in by_key:
            raise invalid_template(
                f"The resource '{p.resource_id}' is defined multiple times in the template"
            )
        by_key[key(p.resource_id)] = p
        if res.get("condition") is False:
            continue  # a literal false condition: the resource is skipped, as in ARM
        if res.get("condition") not in (None, True):
            raise invalid_template(
                f"The template resource '{owner}' at '{where}' has a non-literal 'condition'"
            )
        planned.append(p)
        p.depends_on = [str(d) for d in res["dependsOn"]]

    # Resolve dependsOn: resource ids, 'Namespace/type/name' forms, or a bare unique name.
    by_type_name = {key(p.type_and_name): p for p in by_key.values()}
    by_name: dict[str, list[Planned]] = {}
    for p in by_key.values():
        by_name.setdefault(p.name.lower(), []).append(p)
    for p in planned:
        resolved: list[str] = []
        for dep in p.depends_on:
            target = by_key.get(key(dep)) or by_type_name.get(key(dep).lstrip("/"))
            if target is None and len(by_name.get(dep.lower(), [])) == 1:
                target = by_name[dep.lower()][0]
            if target is None:
                raise invalid_template(
                    f"The resource '{dep}' that '{p.type_and_name}' at '{p.where}' depends on is not "
                    "defined in "
                    "the template"
                )
            if target in planned and key(target.resource_id) not in resolved:
                resolved.append(key(target.resource_id))
        p.depends_on = resolved
    return _topological(planned)


def _topological(planned: list[Planned]) -> list[Planned]:
    """Template order where possible; a dependency always comes first; a cycle is refused."""
    by_key = {key(p.resource_id): p for p in planned}
    done: set[str] = set()
    visiting: list[str] = []
    order: list[Planned] = []

    def visit(p: Planned) -> None:
        k = key(p.resource_id)
        if k in done:
            return
        if k in visiting:
            cycle = (
                " -> ".join(by_key[x].type_and_name for x in visiting[visiting.index(k) :])
                + f" -> {p.type_and_name}"
            )
            raise invalid_template(f"Circular dependency detected on resource: '{p.resource_id}' ({cycle})")
        visiting.append(k)
        for dep in p.depends_on:
            visit(by_key[dep])
        visiting.pop()
        done.add(k)
        order.append(p)

    for p in planned:
        visit(p)
    return order


def outputs(template: dict) -> dict:
    """Literal outputs as ARM reports them: ``{"name": {"type": "String", "value": ...}}``."""
    out = {}
    for name, spec in (template.get("outputs") or {}).items():
        if not isinstance(spec, dict) or "value" not in spec:
            raise invalid_template(f"The template output '{name}' needs a literal 'value'")
        value = _literal(spec["value"], f"outputs.{name}.value", f"output {name}")
        kind = str(spec.get("type", "string"))
        out[name] = {"type": kind[:1].upper() + kind[1:], "value": value}
    return out
