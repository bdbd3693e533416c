"""The ground the client's method groups stand on: attributes, the lazy ``icechunk`` module, shared errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arraylake._lazy import lazy_module
from arraylake.client.login import LoginAuth
from arraylake.client.storage_credentials import Access, ServiceCredentials, share_transport
from arraylake.client.transport import Transport
from arraylake.exceptions import FeatureUnavailableError

if TYPE_CHECKING:
    import icechunk

    from arraylake.repos import v1

    RepoConfig = icechunk.RepositoryConfig | None
    IcechunkRepository = icechunk.Repository
    OpenedRepo = icechunk.Repository | v1.AsyncRepo | v1.Repo
    """An Icechunk repository, or a legacy V1 repo (``AsyncRepo`` from ``AsyncClient``, ``Repo`` from
    ``Client``)."""
else:
    icechunk = lazy_module("icechunk")


def not_yet(what: str, issue: str) -> FeatureUnavailableError:
    return FeatureUnavailableError(f"{what} is not available in this release of Arraylake Open ({issue}).")


class ClientBase:
    """What every group of client methods relies on: the service, the token and one transport."""

    service_uri: str
    token: str | None
    _login: LoginAuth
    _transport: Transport

    def _service_credentials(
        self, path: str, access: Access | None, container: str | None = None
    ) -> ServiceCredentials:
        """A refresher of the credentials at ``path`` that asks through this client's transport."""
        share_transport(self.service_uri, self.token, self._transport)
        return ServiceCredentials(self.service_uri, path, access, self.token, container)
