"""The compute data plane: a stateless ASGI app that serves an org's repos over one protocol.

A front door (``app``) parses ``/{org}/{repo}/{ref}/{group...}/{suffix}/...``, authenticates the caller
against the service, resolves the ref to a snapshot, answers ``If-None-Match`` without touching data and
hands the request to the xpublish plugin of the deployment's protocol, over the dataset of that snapshot and
group: xpublish-wms (WMS 1.3.0), xpublish-tiles (OGC API Tiles), xpublish-zarr (Zarr over HTTP), and our own
``edr`` (OGC API EDR) and ``dap2`` (OPeNDAP DAP2), written because the published plugins measured wrong.

Needs the ``compute`` extra; ``import arraylake`` never imports this package.
"""
