"""The documented way to watch the client's retries: :func:`retry_notices` (the transport is
:mod:`arraylake.client.transport`)."""

from arraylake.client.transport import Retry, retry_notices

__all__ = ["Retry", "retry_notices"]
