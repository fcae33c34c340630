"""Seed the sandbox's primary region with a hub that looks like production.

What the seed contains is data, in :mod:`foundry_dr_sandbox.seed_spec` (names from
``deployments/plans/sandbox.yaml``): resource group; storage accounts, shared Key Vault, Premium
ACR with repositories, Application Insights and an AI Services account; the hub and two
projects; the default and one extra blob datastore; a connection to AI Services; in each
project: models with several versions, tags and descriptions (one archived), data assets,
environments whose images live in the ACR, a component, a compute cluster, online endpoints
with blue/green deployments and a traffic split, a batch endpoint, jobs (some Running) and a
schedule; and blobs with nested paths, metadata and content types (a few MB at scale 1,
proportional to ``scale``).

This module applies it. Everything goes through the real SDK clients (MLClient, the management
clients, the blob client) over HTTPS, the way a team would have built its hub, so seeding also
exercises the emulator. Idempotent: a second seed changes nothing that exists.

Nothing here emulates Azure: the applier does what a customer's script would (GET, PUT what is
missing through ``ResourceManagementClient.resources.begin_create_or_update_by_id``, tolerate
``ResourceExistsError`` on a re-run). The default datastore it writes blobs to is the one the
workspace itself came with (``datastores.get_default()``; the ML provider creates it, as Azure
does -- learn.microsoft.com, "Create datastores": every workspace has ``workspaceblobstore`` as its
default). The one sandbox-only mechanism is :class:`~foundry_dr_sandbox.control.Control`, which
stands in for ``docker push`` because ACR's registry data plane is not emulated.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.mgmt.core.tools import parse_resource_id
from azure.storage.blob import ContentSettings, StandardBlobTier

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan, load_plan
from foundry_dr_sandbox import seed_spec as spec
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.control import Control
from foundry_dr_sandbox.seed_spec import ARM_API, IMAGES, PLAN_PATH

__all__ = ["ARM_API", "IMAGES", "PLAN_PATH", "seed"]
Echo = Callable[[str], None]
ASSET_TALLIES = {"models": "model versions", "data": "data versions", "environments": "environment versions"}

PROGRESS_SECONDS = 3.0  # at most this long without a line from the seed


def seed(config: SandboxConfig, scale: int = 1, echo: Echo = print, plan: Plan | None = None) -> dict:
    """Build the primary hub; returns counts of what exists afterwards."""
    plan = plan or load_plan(PLAN_PATH)
    factory = ClientFactory(plan, sandbox_env=config.env())
    try:
        echo(f"seeding {plan.primary.hub} in {plan.primary.location} (scale {scale})")
        counts = _Applier(config, factory).apply(spec.build(plan, config, scale), echo)
        echo("seeded: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        return counts
    finally:
        factory.close()


def _resource_type(resource_id: str) -> str:
    """The tally key of an ARM id: its type path under the provider (``workspaces/onlineEndpoints``),
    so a hub's children are not all counted as workspaces (the seed once said "workspaces 29")."""
    parts = parse_resource_id(resource_id)
    if "namespace" not in parts:
        return "rg"
    types = [parts["type"]] + [parts[f"child_type_{i}"] for i in range(1, 10) if f"child_type_{i}" in parts]
    return "/".join(types)


class _Applier:
    """Writes seed steps: what does not exist yet is created, everything is tallied."""

    def __init__(self, config: SandboxConfig, factory: ClientFactory) -> None:
        self.config = config
        self.factory = factory
        self.resources = factory.resource_client(factory.plan.primary.subscription_id)
        self.counts: dict[str, int] = {}

    def apply(self, steps: list[spec.Step], echo: Echo | None = None) -> dict:
        """Each step in order; a progress line every few seconds, so a long seed is not silent."""
        said = time.monotonic()
        for done, step in enumerate(steps, start=1):
            getattr(self, type(step).__name__)(step)
            if echo is not None and (time.monotonic() - said >= PROGRESS_SECONDS or done == len(steps)):
                echo(f"  {done}/{len(steps)} steps ({type(step).__name__})")
                said = time.monotonic()
        return dict(self.counts)

    def _count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    # ---- one method per step type (named after it) ------------------------------------------
    def ResourceGroup(self, step: spec.ResourceGroup) -> None:  # noqa: N802
        self.resources.resource_groups.create_or_update(step.name, {"location": step.location})

    def Arm(self, step: spec.Arm) -> None:  # noqa: N802
        try:
            self.resources.resources.get_by_id(step.id, api_version=step.api_version)
        except ResourceNotFoundError:
            self._put(step.id, step.body, step.api_version)
        self._count(_resource_type(step.id))
        if step.tally:
            self._count(step.tally)

    def AiServicesResource(self, step: spec.AiServicesResource) -> None:  # noqa: N802
        """Model deployments and content filters of the AI Services account (issue 17)."""
        try:
            self.resources.resources.get_by_id(step.id, api_version=step.api_version)
        except ResourceNotFoundError:
            self._put(step.id, step.body, step.api_version)
        self._count(step.tally)

    def Traffic(self, step: spec.Traffic) -> None:  # noqa: N802
        current = self.resources.resources.get_by_id(step.id, api_version=ARM_API).as_dict()
        if current.get("properties", {}).get("traffic") != step.body["properties"]["traffic"]:
            self._put(step.id, step.body, ARM_API)

    def Repositories(self, step: spec.Repositories) -> None:  # noqa: N802
        Control(self.config).request("PUT", f"/registries/{step.registry}/repositories",
                                     {"repositories": step.repositories})  # fmt: skip

    def Asset(self, step: spec.Asset) -> None:  # noqa: N802
        from azure.ai.ml.entities import Data, Environment, Model

        entity = {"models": Model, "data": Data, "environments": Environment}[step.kind](**step.fields)
        operations = getattr(self.factory.ml_client("primary", step.project), step.kind)
        _idempotent(lambda: operations.create_or_update(entity))
        self._count(ASSET_TALLIES[step.kind])

    def Archive(self, step: spec.Archive) -> None:  # noqa: N802
        ml = self.factory.ml_client("primary", step.project)
        _idempotent(lambda: ml.models.archive(name=step.name, version=step.version))

    def TallyDatastores(self, step: spec.TallyDatastores) -> None:  # noqa: N802
        self._count("datastores", len(list(self.factory.ml_client("primary").datastores.list())))

    def Blobs(self, step: spec.Blobs) -> None:  # noqa: N802
        rng = random.Random(spec.BLOB_RNG_SEED)
        for account, container in step.containers:
            if account is None:
                default = self.factory.ml_client("primary").datastores.get_default()
                account, container = default.account_name, default.container_name
            cc = self.factory.blob_service(account).get_container_client(container)
            try:
                cc.create_container(metadata=dict(spec.CONTAINER_METADATA))
            except ResourceExistsError:
                pass
            for i in range(step.files):
                file = spec.blob_file(i, rng)  # drawn even when the blob exists: the bytes stay the same
                blob = cc.get_blob_client(file.name)
                try:
                    blob.get_blob_properties()
                    continue
                except ResourceNotFoundError:
                    pass
                blob.upload_blob(
                    file.data,
                    overwrite=False,
                    metadata=spec.blob_metadata(i),
                    content_settings=ContentSettings(content_type=file.content_type,
                                                     cache_control=spec.BLOB_CACHE_CONTROL),
                    standard_blob_tier=StandardBlobTier.COOL if i % spec.BLOB_COOL_EVERY == 0 else None,
                )  # fmt: skip
                self._count("blobs")

    def AssetBlobs(self, step: spec.AssetBlobs) -> None:  # noqa: N802
        default = self.factory.ml_client("primary", step.project).datastores.get_default()
        cc = self.factory.blob_service(default.account_name).get_container_client(default.container_name)
        for name, data, content_type in step.files:
            try:
                cc.upload_blob(name, data, overwrite=False, content_settings=ContentSettings(content_type=content_type))
                self._count("asset blobs")
            except ResourceExistsError:
                pass

    def _put(self, resource_id: str, body: dict, api_version: str) -> dict:
        """PUT through the generic-resource operations of the real management SDK."""
        poller = self.resources.resources.begin_create_or_update_by_id(resource_id, body, api_version=api_version)
        return poller.result().as_dict()


def _idempotent(call: Callable[[], Any]) -> None:
    """Run a create; an existing identical asset version is fine on a re-seed."""
    try:
        call()
    except ResourceExistsError:
        pass
