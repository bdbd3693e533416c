"""Legacy V1 repos: a metastore of Zarr documents and commits on the service, chunks in the repo's bucket."""

from arraylake.repos.v1.chunkstore import Chunkstore
from arraylake.repos.v1.metastore import Metastore
from arraylake.repos.v1.render import CommitData, CommitLog, SessionStatus, Tree
from arraylake.repos.v1.repo import DEFAULT_IS_WRITE_SESSION, AsyncRepo
from arraylake.repos.v1.sessions import (
    DEFAULT_SESSION_TIMEOUT,
    Author,
    LocalReadSession,
    LocalSession,
    LocalWriteSession,
)
from arraylake.repos.v1.store import V1Store
from arraylake.repos.v1.sync import Repo

__all__ = [
    "DEFAULT_IS_WRITE_SESSION",
    "DEFAULT_SESSION_TIMEOUT",
    "AsyncRepo",
    "Author",
    "Chunkstore",
    "CommitData",
    "CommitLog",
    "LocalReadSession",
    "LocalSession",
    "LocalWriteSession",
    "Metastore",
    "Repo",
    "SessionStatus",
    "Tree",
    "V1Store",
]
