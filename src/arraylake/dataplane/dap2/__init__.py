"""Our own OPeNDAP DAP2 server, as an xpublish plugin: the published one returned wrong values for strided
hyperslabs and its ``.dods`` could not be read by pydap.

A client opens ``.../opendap`` as the dataset URL and asks for ``.dds``, ``.das`` and ``.dods?constraint``.
Variables are served CF-encoded (clients decode CF themselves) as DAP2 Arrays; the data is streamed in
bounded blocks computed through Dask.
"""

from arraylake.dataplane.dap2.plugin import Dap2Plugin

__all__ = ["Dap2Plugin"]
