"""The compute clients under the module name of the hosted client (``arraylake.compute.services``)."""

from arraylake.compute import (
    AsyncComputeClient,
    ComputeClient,
    ComputeRegion,
    ComputeSku,
    DeploymentInfo,
    ServiceConfig,
    ServiceNotReadyError,
    ServiceStartTimeoutError,
    ServiceStatus,
    ServiceType,
    ServiceUpdate,
)

__all__ = [
    "AsyncComputeClient",
    "ComputeClient",
    "ComputeRegion",
    "ComputeSku",
    "DeploymentInfo",
    "ServiceConfig",
    "ServiceNotReadyError",
    "ServiceStartTimeoutError",
    "ServiceStatus",
    "ServiceType",
    "ServiceUpdate",
]
