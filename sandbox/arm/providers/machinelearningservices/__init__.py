"""Microsoft.MachineLearningServices: what the runbooks touch of Azure ML / AI Foundry hubs.

Layout: :mod:`.models` (workspaces, assets, datastores, connections), :mod:`.compute`
(computes, usages, quotas), :mod:`.endpoints` (online/batch endpoints and deployments),
:mod:`.jobs` (jobs, schedules), :mod:`.responses` (RP-shaped defaults), :mod:`.scoring`
(the scoring URIs).
"""

from foundry_dr_sandbox.arm.core.provider import Provider
from foundry_dr_sandbox.arm.providers.machinelearningservices.common import NS
from foundry_dr_sandbox.arm.providers.machinelearningservices.compute import ComputeType, provider_path
from foundry_dr_sandbox.arm.providers.machinelearningservices.endpoints import (
    BatchDeploymentType,
    BatchEndpointType,
    OnlineDeploymentType,
    OnlineEndpointType,
)
from foundry_dr_sandbox.arm.providers.machinelearningservices.jobs import JobType, ScheduleType
from foundry_dr_sandbox.arm.providers.machinelearningservices.models import (
    ConnectionType,
    DatastoreType,
    WorkspaceType,
    asset_types,
)
from foundry_dr_sandbox.arm.providers.machinelearningservices.scoring import register_routes

PROVIDER = Provider(
    namespace=NS,
    resource_types=[
        WorkspaceType(),
        *asset_types(),
        DatastoreType(),
        ConnectionType(),
        ComputeType(),
        OnlineEndpointType(),
        OnlineDeploymentType(),
        BatchEndpointType(),
        BatchDeploymentType(),
        JobType(),
        ScheduleType(),
    ],
    provider_path=provider_path,
    register_routes=register_routes,
)

__all__ = ["PROVIDER"]
