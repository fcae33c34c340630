"""Microsoft.Resources/deployments at resource-group scope: literal templates, what-if, validate.

A deployment is a long-running PUT: the template is validated at once (a bad template is a
synchronous 400 ``InvalidTemplate``, as in ARM), and the resources are created when the
operation settles, in dependsOn order, each through ``Engine.handle`` with the caller of the
deployment — so every resource type's own rules, the contract check and authorization apply
exactly as for a direct PUT. The first failure stops the deployment: it ends ``Failed`` with
``DeploymentFailed`` whose details name the resource and its error.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

from foundry_dr_sandbox.arm.core import lro
from foundry_dr_sandbox.arm.core.engine import Engine, now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid, rg_not_found
from foundry_dr_sandbox.arm.core.ids import key, parse
from foundry_dr_sandbox.arm.core.provider import Existing, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.resources import responses, templates, whatif
from foundry_dr_sandbox.tokens import Caller

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
OPERATION_TYPE = "Microsoft.Resources/deployments/operations"
WHATIF_TYPE = "Microsoft.Resources/deployments/whatIf"  # key for the lro_delay setting
WHATIF_RESULTS = "whatIfOperationResults"  # provider path segment of what-if Location URLs


def _rg_id(path) -> str:
    return f"/subscriptions/{path.subscription}/resourceGroups/{path.resource_group}"


def _read_body(req: Request) -> tuple[str, dict]:
    """Mode and template of a Deployment / DeploymentWhatIf body (parameters are refused)."""
    body = req.body if isinstance(req.body, dict) else {}
    props = body.get("properties")
    if not isinstance(props, dict):
        raise invalid("The request content was invalid: 'properties' is required.")
    mode = props.get("mode")
    if not isinstance(mode, str) or mode.lower() not in ("incremental", "complete"):
        raise invalid(f"The deployment mode '{mode}' is not valid: use 'Incremental' or 'Complete'.")
    if props.get("templateLink"):
        raise templates.invalid_template(
            "templateLink is not supported by the sandbox: send the template inline"
        )
    if props.get("parameters") or props.get("parametersLink"):
        raise templates.invalid_template(
            "deployment parameters are not supported by the sandbox: it deploys literal templates only"
        )
    template = props.get("template")
    if not isinstance(template, dict):
        raise invalid("The request content was invalid: 'properties.template' is required.")
    return ("Complete" if mode.lower() == "complete" else "Incremental"), template


def _plan(req: Request) -> tuple[str, dict, list[templates.Planned]]:
    p = req.path
    mode, template = _read_body(req)
    planned = templates.plan(template, p.subscription, p.resource_group or "")
    templates.outputs(template)  # outputs must be literal too
    return mode, template, planned


def _as_dicts(planned: list[templates.Planned]) -> list[dict]:
    return [dataclasses.asdict(x) for x in planned]


def _finish_now(engine: Engine, resource_id: str) -> dict | None:
    """Settle a template resource's own LRO at once; its error body if it failed."""
    found = engine.store.get(resource_id)
    if found is None:
        return None
    doc, meta = found
    op_id = meta.get("op")
    if meta.get("ready_at"):
        meta["ready_at"] = 0
        engine.store.put(resource_id, meta["parent"], doc["type"], doc, meta)
    settled = engine.load(resource_id)
    if settled and settled.doc.get("properties", {}).get("provisioningState") == "Failed":
        op = engine.store.get_operation(op_id) if op_id else None
        return (op or {}).get("error") or {
            "code": "ResourceDeploymentFailure",
            "message": f"The resource '{resource_id}' ended in Failed state.",
        }
    return None


class DeploymentType(ResourceType):
    type_name = DEPLOYMENT_TYPE
    lro_put = True
    location_required = False

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        mode, template, planned = _plan(req)
        plan = _as_dicts(planned)
        body = req.body if isinstance(req.body, dict) else {}
        doc: dict = {
            "properties": {
                "templateHash": responses.template_hash(template),
                "parameters": {},
                "mode": mode,
                "provisioningState": "Accepted",
                "timestamp": now_iso(),
                "duration": "PT0S",
                "correlationId": str(uuid.uuid4()),
                "providers": responses.providers(plan),
                "dependencies": responses.dependencies(plan),
                "outputResources": [],
            },
        }
        if isinstance(body.get("tags"), dict):
            doc["tags"] = body["tags"]
        meta = {
            "plan": plan,
            "mode": mode,
            "outputs": templates.outputs(template),
            "started": time.time(),
            "caller": dataclasses.asdict(req.caller),
            "base_url": req.base_url,
        }
        return doc, meta

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        """Create the template's resources in order; the first failure fails the deployment."""
        props = doc.setdefault("properties", {})
        caller = Caller(**meta["caller"])
        dep_id = doc["id"]
        rg_id = dep_id.split("/providers/")[0]
        for old, _ in engine.store.children(dep_id, OPERATION_TYPE):
            engine.store.delete_tree(old["id"])
        created: list[str] = []
        failure: dict | None = None
        for item in meta["plan"]:
            rid = item["resource_id"]
            started, stamp = time.time(), now_iso()
            sub_req = Request(
                "PUT",
                parse(rid, "PUT"),
                rid,
                {"api-version": item["api_version"]},
                item["body"],
                caller,
                meta["base_url"],
            )
            error: dict | None = None
            status = "OK"
            try:
                reply = engine.handle(sub_req)
                status = "Created" if reply.status == 201 else "OK"
                error = _finish_now(engine, rid)
            except ArmError as exc:
                error, status = exc.body()["error"], _status_name(exc.status)
            except Exception as exc:  # noqa: BLE001 - a provider bug must fail the deployment, not every GET
                error, status = (
                    {"code": "InternalServerError", "message": f"{type(exc).__name__}: {exc}"},
                    "InternalServerError",
                )
            op_id = uuid.uuid4().hex[:16].upper()
            op_doc = responses.deployment_operation(
                dep_id,
                op_id,
                item,
                "Failed" if error else "Succeeded",
                "Conflict" if error and status == "OK" else status,
                stamp,
                time.time() - started,
                error,
            )
            engine.store.put(op_doc["id"], dep_id, OPERATION_TYPE, op_doc, {"parent": dep_id})
            if error:
                failure = {
                    "code": error.get("code", "ResourceDeploymentFailure"),
                    "message": error.get("message", ""),
                    "target": rid,
                    **({"details": error["details"]} if error.get("details") else {}),
                }
                break
            created.append(rid)
        if failure is None and meta.get("mode") == "Complete":
            created_keys = {key(r) for r in created}
            for other, _ in engine.store.children(rg_id):
                if (
                    other.get("type", "").lower() == DEPLOYMENT_TYPE.lower()
                    or key(other["id"]) in created_keys
                ):
                    continue
                engine.handle(
                    Request(
                        "DELETE",
                        parse(other["id"], "DELETE"),
                        other["id"],
                        {"api-version": "2021-04-01"},
                        None,
                        caller,
                        meta["base_url"],
                    )
                )
        props["outputResources"] = [{"id": r} for r in created]
        props["timestamp"] = now_iso()
        props["duration"] = responses.iso_duration(time.time() - meta.get("started", time.time()))
        if failure is not None:
            props["error"] = {
                "code": "DeploymentFailed",
                "message": responses.DEPLOYMENT_FAILED_MESSAGE,
                "details": [failure],
            }
            raise ArmError(400, "DeploymentFailed", responses.DEPLOYMENT_FAILED_MESSAGE, details=[failure])
        props.pop("error", None)
        props["outputs"] = meta.get("outputs") or {}

    def view(self, engine: Engine, doc: dict, meta: dict) -> dict:
        view = dict(doc)
        props = dict(view.get("properties", {}))
        if props.get("provisioningState") in ("Creating", "Updating"):
            props["provisioningState"] = "Running"
            props["duration"] = responses.iso_duration(time.time() - meta.get("started", time.time()))
        view["properties"] = props
        return view

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        if meta.get("ready_at"):
            raise ArmError(
                409,
                "DeploymentActive",
                f"The deployment '{doc.get('name')}' is running; cancel it or wait before deleting it.",
            )


class DeploymentOperationType(ResourceType):
    """``deployments/{name}/operations``: written by the deployment, read-only to clients."""

    type_name = OPERATION_TYPE
    location_required = False

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        raise ArmError(405, "MethodNotAllowed", "Deployment operations are read-only.")


def _status_name(status: int) -> str:
    return {
        400: "BadRequest",
        403: "Forbidden",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
    }.get(status, "InternalServerError")


def _require_rg(engine: Engine, req: Request) -> dict:
    found = engine.store.get(_rg_id(req.path))
    if not found:
        raise rg_not_found(req.path.resource_group or "")
    return found[0]


def what_if(engine: Engine, req: Request, doc: dict | None, meta: dict | None) -> Reply:
    """POST .../deployments/{name}/whatIf: 202 + Location; the Location answers the result."""
    rg = _require_rg(engine, req)
    mode, _, planned = _plan(req)
    result = responses.what_if_result(whatif.changes(engine, planned, mode, _rg_id(req.path)))
    location = (rg.get("location") or "global").replace(" ", "").lower()
    _, reply = lro.start(
        engine,
        req,
        kind="whatIf",
        segment=WHATIF_RESULTS,
        region=location,
        delay=engine.lro_delay(WHATIF_TYPE),
        namespace="Microsoft.Resources",
        result=result,
    )
    return reply


what_if.allow_missing = True  # type: ignore[attr-defined]


def validate(engine: Engine, req: Request, doc: dict | None, meta: dict | None) -> Reply:
    """POST .../deployments/{name}/validate: the template and every resource body's contract."""
    _require_rg(engine, req)
    mode, template, planned = _plan(req)
    if engine.contract_check:
        for p in planned:  # each with the model of its own apiVersion
            engine.check_contract(p.full_type, p.api_version, p.body)
    plan = _as_dicts(planned)
    p = req.path
    return Reply(
        200,
        {
            "id": p.resource_id,
            "name": p.names[-1],
            "type": DEPLOYMENT_TYPE,
            "properties": {
                "provisioningState": "Succeeded",
                "mode": mode,
                "timestamp": now_iso(),
                "correlationId": str(uuid.uuid4()),
                "templateHash": responses.template_hash(template),
                "parameters": {},
                "providers": responses.providers(plan),
                "dependencies": responses.dependencies(plan),
                "validatedResources": [{"id": x.resource_id} for x in planned],
            },
        },
    )


validate.allow_missing = True  # type: ignore[attr-defined]

DeploymentType.actions = {"whatIf": what_if, "validate": validate}


# ``/subscriptions/{s}/providers/Microsoft.Resources/locations/{loc}/whatIfOperationResults/{op}``
provider_path = lro.location_route(WHATIF_RESULTS, "whatIf")
