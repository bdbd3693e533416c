"""Compute services: an org's deployments that serve its repos over EDR, WMS, Tiles, DAP2 and Zarr.

``records`` keeps the catalog rows, ``skus`` the sizes a deployment runs at, ``service`` the use cases of the
API (``router``); ``supervisor`` runs the wanted deployments as process groups on this machine, ``logbook``
keeps their output, and ``proxy`` forwards ``/v1/services/{name}/...`` to them. The data plane itself is
:mod:`arraylake.dataplane` (extra ``compute``).
"""
