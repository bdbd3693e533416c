"""The V1 metastore over HTTP: one method per route of ``/repos/{org}/{repo}/...``, bulk routes batched."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from arraylake.client.login import LoginAuth
from arraylake.client.transport import TokenAuth, Transport, TransportSettings
from arraylake.config import config as _config
from arraylake.types.v1 import (
    Branch,
    BulkCreateDocBody,
    CollectionName,
    Commit,
    CreatedCommit,
    DocResponse,
    NewCommit,
    NewSession,
    NewTag,
    PathSizeResponse,
    RebaseResponse,
    SessionExpirationUpdate,
    SessionInfo,
    SessionPathsResponse,
    Tag,
    Tree,
    UpdateBranchBody,
)

COMMIT_PAGE_SIZE = 500

_lock = threading.Lock()
_transports: dict[tuple[str, str, int], Transport] = {}


def _process_transport(service_uri: str, token: str | None) -> Transport:
    """One transport per (service, caller) and process, for metastores that arrived by pickle."""
    import os

    caller = hashlib.sha256((token or "login").encode()).hexdigest()[:16]
    key = (service_uri, caller, os.getpid())
    with _lock:
        transport = _transports.get(key)
        if transport is None:
            auth = TokenAuth(token) if token else LoginAuth(service_uri)
            transport = _transports[key] = Transport(
                service_uri, auth, TransportSettings.from_config(), reached=True
            )
        return transport


def batch_size() -> int:
    return max(1, int(_config.get("async.batch_size", 20)))


def concurrency() -> int:
    return max(1, int(_config.get("async.concurrency", 4)))


def _batches[T](items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


async def _bounded[T](calls: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``calls`` with at most ``limit`` at once; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(run(call) for call in calls)))


def _session_params(session_id: str, base_commit: str | None, **more: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"session_id": session_id}
    if base_commit is not None:
        params["base_commit"] = base_commit
    params.update({key: value for key, value in more.items() if value is not None})
    return params


class Metastore:
    """The metastore of one V1 repo, reached through the client's transport.

    Picklable: a copy in another process (a Dask worker) talks to the same service as the same caller.
    """

    def __init__(self, transport: Transport, token: str | None, org: str, repo: str):
        self._transport = transport
        self.service_uri = transport.service_uri
        self.token = token
        self.org = org
        self.repo = repo
        self._base = f"/repos/{org}/{repo}"

    def __repr__(self) -> str:
        return f"Metastore({self.org}/{self.repo} at {self.service_uri})"

    def __getstate__(self) -> dict[str, Any]:
        return {"service_uri": self.service_uri, "token": self.token, "org": self.org, "repo": self.repo}

    def __setstate__(self, state: dict[str, Any]) -> None:
        transport = _process_transport(state["service_uri"], state["token"])
        self.__init__(transport, state["token"], state["org"], state["repo"])  # type: ignore[misc]

    async def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> Any:
        response = await self._transport.request(
            method, self._base + path, params=params, json_body=json_body
        )
        return response.json() if response.content else None

    # ------------------------------------------------------------------------------------ history and refs

    async def get_commits(
        self, last_seen_commit: str | None = None, limit: int = COMMIT_PAGE_SIZE
    ) -> list[Commit]:
        params: dict[str, Any] = {"limit": limit}
        if last_seen_commit is not None:
            params["last_seen_commit"] = last_seen_commit
        return [Commit.model_validate(c) for c in await self._request("GET", "/commits", params=params)]

    async def all_commits(self) -> list[Commit]:
        """Every commit, newest first, fetched in pages."""
        commits: list[Commit] = []
        last: str | None = None
        while True:
            page = await self.get_commits(last)
            commits.extend(page)
            if len(page) < COMMIT_PAGE_SIZE:
                return commits
            last = page[-1].id

    async def get_commit(self, commit_id: str) -> Commit:
        return Commit.model_validate(await self._request("GET", f"/commits/{commit_id}"))

    async def new_commit(self, commit: NewCommit) -> str:
        body = await self._request("PUT", "/commits", json_body=commit.model_dump(mode="json"))
        return CreatedCommit.model_validate(body).id

    async def get_branches(self, names: Sequence[str] = ()) -> list[Branch]:
        params = {"names": list(names)} if names else None
        return [Branch.model_validate(b) for b in await self._request("GET", "/branches", params=params)]

    async def update_branch(self, update: UpdateBranchBody) -> None:
        await self._request("PUT", "/branches", json_body=update.model_dump(mode="json"))

    async def delete_branch(self, name: str) -> None:
        await self._request("DELETE", "/branches", params={"name": name})

    async def get_tags(self, names: Sequence[str] = ()) -> list[Tag]:
        params = {"names": list(names)} if names else None
        return [Tag.model_validate(t) for t in await self._request("GET", "/tags", params=params)]

    async def new_tag(self, tag: NewTag) -> Tag:
        return Tag.model_validate(await self._request("PUT", "/tags", json_body=tag.model_dump(mode="json")))

    async def delete_tag(self, name: str) -> None:
        await self._request("DELETE", "/tags", params={"name": name})

    async def rebase(self, session_id: str, branch: str, base_commit: str | None) -> str | None:
        """The branch tip, if no commit since ``base_commit`` touched the session's paths (else an error)."""
        params = _session_params(session_id, base_commit, branch_name=branch)
        return RebaseResponse.model_validate(await self._request("POST", "/rebase", params=params)).commit_id

    # --------------------------------------------------------------------------------------------- sessions

    async def list_sessions(self) -> list[SessionInfo]:
        return [SessionInfo.model_validate(s) for s in await self._request("GET", "/sessions")]

    async def create_session(self, session: NewSession) -> SessionInfo:
        body = await self._request("POST", "/sessions", json_body=session.model_dump(mode="json"))
        return SessionInfo.model_validate(body)

    async def get_session(self, session_id: str) -> SessionInfo:
        return SessionInfo.model_validate(await self._request("GET", f"/sessions/{session_id}"))

    async def update_session_expiration(self, session_id: str, expires_in: timedelta) -> SessionInfo:
        update = SessionExpirationUpdate(session_id=session_id, expires_in=expires_in)
        body = await self._request("PUT", f"/sessions/{session_id}", json_body=update.model_dump(mode="json"))
        return SessionInfo.model_validate(body)

    async def expire_session(self, session_id: str) -> SessionInfo:
        return SessionInfo.model_validate(await self._request("DELETE", f"/sessions/{session_id}"))

    async def modified_paths(
        self, collection: CollectionName, session_id: str, base_commit: str | None, limit: int = 0
    ) -> list[SessionPathsResponse]:
        params = _session_params(session_id, base_commit, limit=limit)
        body = await self._request("GET", f"/modified_paths/{collection}", params=params)
        return [SessionPathsResponse.model_validate(p) for p in body]

    async def modified_paths_commit(
        self, collection: CollectionName, commit_id: str, limit: int = 0
    ) -> list[SessionPathsResponse]:
        """The paths of ``collection`` the session of ``commit_id`` wrote or deleted (``limit`` 0: all)."""
        params = {"commit_id": commit_id, "limit": limit}
        body = await self._request("GET", f"/modified_paths_commit/{collection}", params=params)
        return [SessionPathsResponse.model_validate(p) for p in body]

    # -------------------------------------------------------------------------------------------- documents

    async def set_docs(
        self,
        collection: CollectionName,
        docs: dict[str, dict[str, Any]],
        session_id: str,
        base_commit: str | None,
    ) -> None:
        """Write documents ``path -> content`` in the session, in batches."""
        bodies = [
            BulkCreateDocBody(session_id=session_id, content=content, path=path).model_dump(mode="json")
            for path, content in docs.items()
        ]
        params = _session_params(session_id, base_commit)
        url = f"/contents/{collection}/_bulk_set"
        await _bounded(
            [
                partial(self._request, "PUT", url, params=params, json_body=list(b))
                for b in _batches(bodies, batch_size())
            ],
            concurrency(),
        )

    async def get_docs(
        self,
        collection: CollectionName,
        paths: Iterable[str],
        session_id: str,
        base_commit: str | None,
        *,
        batch: int | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The content of each path the session sees (missing and deleted paths are left out); ``batch``
        paths per request (default: the configured batch size)."""
        unique = list(dict.fromkeys(paths))
        params = _session_params(session_id, base_commit)
        url = f"/contents/{collection}/_bulk_get"
        answers = await _bounded(
            [
                partial(self._request, "POST", url, params=params, json_body=list(b))
                for b in _batches(unique, batch or batch_size())
            ],
            concurrency(),
        )
        found: dict[str, dict[str, Any]] = {}
        for answer in answers:
            for doc in answer:
                response = DocResponse.model_validate(doc)
                if not response.deleted and response.content is not None:
                    found[response.path] = response.content
        return found

    async def delete_docs(
        self, collection: CollectionName, paths: Iterable[str], session_id: str, base_commit: str | None
    ) -> None:
        unique = list(dict.fromkeys(paths))
        params = _session_params(session_id, base_commit)
        url = f"/contents/{collection}/_bulk_delete"
        await _bounded(
            [
                partial(self._request, "PUT", url, params=params, json_body=list(b))
                for b in _batches(unique, batch_size())
            ],
            concurrency(),
        )

    async def list_paths(
        self,
        collection: CollectionName,
        prefix: str,
        session_id: str,
        base_commit: str | None,
        *,
        all_subdirs: bool = False,
        filter: str | None = None,
    ) -> list[str]:
        """Paths under ``prefix``: recursively, or a directory's documents and sub-directories."""
        params = _session_params(
            session_id,
            base_commit,
            prefix=prefix,
            all_subdirs="true" if all_subdirs else "false",
            filter=filter,
        )
        return list(await self._request("GET", f"/contents/{collection}/", params=params))

    async def delete_prefix(
        self, collection: CollectionName, prefix: str, session_id: str, base_commit: str | None
    ) -> None:
        params = _session_params(session_id, base_commit)
        await self._request("DELETE", f"/contents/{collection}/{prefix}", params=params)

    async def getsize(self, prefix: str, session_id: str, base_commit: str | None) -> PathSizeResponse:
        params = _session_params(session_id, base_commit, prefix=prefix)
        return PathSizeResponse.model_validate(await self._request("GET", "/size/", params=params))

    async def tree(
        self, prefix: str, session_id: str, base_commit: str | None, *, depth: int, filter: str | None
    ) -> Tree:
        params = _session_params(session_id, base_commit, prefix=prefix, depth=depth, filter=filter)
        return Tree.model_validate(await self._request("GET", "/tree", params=params))

    async def rename(self, src_path: str, dst_path: str, session_id: str, base_commit: str | None) -> None:
        params = _session_params(session_id, base_commit, src_path=src_path, dst_path=dst_path)
        await self._request("PUT", "/contents/nodes/rename", params=params)
