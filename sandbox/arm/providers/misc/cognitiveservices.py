"""Microsoft.CognitiveServices/accounts (the hub's AI Services connection) with soft delete.

Deleted accounts sit at ``locations/{loc}/resourceGroups/{rg}/deletedAccounts/{name}`` until
purged (DELETE there); a PUT with ``properties.restore: true`` brings one back, and a PUT
without it gets 409 ``FlagMustBeSetForRestore``, as in Azure.

Model deployments, the region's model catalogue, TPM quota and content filters (RAI policies,
blocklists) are in :mod:`~foundry_dr_sandbox.arm.providers.misc.cognitiveservices_models`; the
accounts' inference endpoint (chat completions, embeddings) in ``cognitiveservices_inference``.
"""

from __future__ import annotations

import copy
import uuid

from foundry_dr_sandbox.arm.core.engine import Engine, now_iso
from foundry_dr_sandbox.arm.core.errors import ArmError, invalid, not_found
from foundry_dr_sandbox.arm.core.provider import Existing, Provider, Reply, Request, ResourceType
from foundry_dr_sandbox.arm.providers.misc import cognitiveservices_inference, cognitiveservices_models, softdelete

NAMESPACE = "Microsoft.CognitiveServices"
ACCOUNTS = f"{NAMESPACE}/accounts"
DELETED = f"{NAMESPACE}/deletedAccounts"


def _deleted_id(doc: dict) -> str:
    parts = doc["id"].split("/")
    sub, rg = "/".join(parts[:3]), parts[4]
    return (
        f"{sub}/providers/{NAMESPACE}/locations/{softdelete.location_of(doc)}/resourceGroups/{rg}/"
        f"deletedAccounts/{doc['name']}"
    )


class AccountType(ResourceType):
    type_name = ACCOUNTS
    lro_put = True

    def build(
        self, engine: Engine, req: Request, existing: Existing | None, parent: Existing | None
    ) -> tuple[dict, dict]:
        body = copy.deepcopy(req.body) if isinstance(req.body, dict) else {}
        given = body.get("properties") or {}
        deleted = None if existing else softdelete.find(engine, DELETED, req.path.resource_id)
        if given.get("restore") is True and not existing:
            if deleted is None:
                raise not_found(req.path.resource_id, "deleted account")
            return softdelete.restored(deleted)
        if deleted:
            raise ArmError(
                409,
                "FlagMustBeSetForRestore",
                f"An existing resource with ID '{req.path.resource_id}' has been soft-deleted. To restore "
                "the resource, you must specify 'restore' to be 'true' in the property. If you don't want "
                f"to restore existing resource, please purge it first (DELETE {deleted[0]['id']}).",
            )
        kind = body.get("kind") or (existing.doc.get("kind") if existing else None)
        if not kind or not isinstance(body.get("sku"), dict):
            raise invalid(
                "A Cognitive Services account needs 'kind' (e.g. AIServices) and 'sku' ({'name': 'S0'})."
            )
        name = req.path.names[-1]
        sub_domain = given.get("customSubDomainName") or name
        props = {
            "customSubDomainName": sub_domain,
            "publicNetworkAccess": "Enabled",
            "capabilities": [],
            "networkAcls": {"defaultAction": "Allow", "virtualNetworkRules": [], "ipRules": []},
            "internalId": (existing.doc["properties"].get("internalId") if existing else None)
            or uuid.uuid4().hex,
            "dateCreated": (existing.doc["properties"].get("dateCreated") if existing else None) or now_iso(),
            "isMigrated": False,
        }
        props.update(
            {
                k: v
                for k, v in given.items()
                if k not in ("restore", "endpoint", "endpoints", "provisioningState")
            }
        )
        props["endpoint"] = f"https://{sub_domain}.cognitiveservices.azure.com/"
        props["endpoints"] = {
            "AI Foundry API": f"https://{sub_domain}.services.ai.azure.com/",
            "OpenAI Language Model Instance API": f"https://{sub_domain}.openai.azure.com/",
        }
        doc = {k: v for k, v in body.items() if k in ("location", "tags", "kind", "sku", "identity")}
        doc["properties"] = props
        return doc, dict(existing.meta) if existing else {}

    def on_settled(self, engine: Engine, doc: dict, meta: dict) -> None:
        softdelete.forget_restored(engine, meta)

    def on_delete(self, engine: Engine, req: Request, doc: dict, meta: dict) -> None:
        deleted_at, purge_at = softdelete.dates(48)
        softdelete.remember(
            engine,
            _deleted_id(doc),
            DELETED,
            doc,
            meta,
            {
                "name": doc["name"],
                "location": doc.get("location"),
                "kind": doc.get("kind"),
                "sku": doc.get("sku"),
                "properties": {
                    **doc.get("properties", {}),
                    "deletionDate": deleted_at,
                    "scheduledPurgeDate": purge_at,
                },
            },
        )


def provider_path(engine: Engine, req: Request) -> Reply:
    """``locations/{loc}/resourceGroups/{rg}/deletedAccounts/{name}``: GET, DELETE (purge); the region's
    models, model capacities and usages (cognitiveservices_models.location_path)."""
    rest = [s.lower() for s in req.path.rest]
    reply = cognitiveservices_models.location_path(engine, req)
    if reply is not None:
        return reply
    if (
        len(rest) == 6
        and rest[0] == "locations"
        and rest[2] == "resourcegroups"
        and rest[4] == "deletedaccounts"
    ):
        rid = f"/subscriptions/{req.path.subscription}/providers/{NAMESPACE}/" + "/".join(req.path.rest)
        found = engine.store.get(rid)
        if found is None:
            raise not_found(rid, "deleted account")
        if req.method == "GET":
            return Reply(200, found[0])
        if req.method == "DELETE":
            engine.store.delete_tree(rid)
            return Reply(200)
    raise ArmError(404, "InvalidResourceType", f"The path '{req.raw_path}' is not supported by the sandbox.")


PROVIDER = Provider(
    namespace=NAMESPACE,
    resource_types=[AccountType(), *cognitiveservices_models.RESOURCE_TYPES],
    provider_path=provider_path,
    register_routes=cognitiveservices_inference.register_routes,
)
