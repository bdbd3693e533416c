"""Compute services: deployments that serve an org's repos over EDR, WMS, Tiles, DAP2 or Zarr.

The clients (``Client.get_services(org)`` returns a :class:`ComputeClient`) and the wire models they speak.
"""

from arraylake.client.compute import (
    AsyncComputeClient,
    ComputeClient,
    ServiceNotReadyError,
    ServiceStartTimeoutError,
)
from arraylake.types.compute import (
    ComputeRegion,
    ComputeSku,
    DeploymentInfo,
    ServiceConfig,
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
