"""The V1 metastore routes over HTTP, against the real service on SQLite and PostgreSQL: shapes, the query
conventions of 0.15 clients, refusals of bad input (a 4xx with a detail, and nothing changed), the detail
prefixes clients match on, compare-and-swap races, read sessions, and what deleting a V1 repo removes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import zarr
from sqlalchemy import func, select

from arraylake import Client
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import v1_commits, v1_documents, v1_sessions
from tests.support.service import Org

GROUP = "meta/root.group.json"
ARRAY = "meta/root/t.array.json"
CHUNK = "data/root/t/c0/0"
AUTHOR = "v1@example.com"
T0 = "2026-01-01T00:00:00Z"


def ref(session: str, length: int = 3) -> dict[str, Any]:
    return {
        "uri": "inline://abc",
        "offset": 0,
        "length": length,
        "hash": {"method": "hashlib.sha256", "token": "ab"},
        "v": 1,
        "sid": session,
    }


class V1Http:
    """One V1 repo over plain HTTP, as its admin."""

    def __init__(self, org: Org, name: str):
        self.org, self.name = org, name
        self.http = httpx.Client(
            base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=30
        )
        self.base = f"/repos/{org.name}/{name}"

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, status: int | None = 200, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, self.base + path, **kwargs)
        if status is not None:
            assert response.status_code == status, (method, path, response.status_code, response.text)
        return response

    def refused(self, method: str, path: str, status: int, phrase: str, **kwargs: Any) -> str:
        """A refusal with ``status`` whose detail holds ``phrase``; the detail."""
        response = self.call(method, path, None, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        detail = response.json()["detail"]
        assert phrase in str(detail), detail
        return str(detail)

    def session(self, base: str | None = None, branch: str | None = "main") -> str:
        body = {"branch": branch, "base_commit": base, "author_email": AUTHOR, "expires_in": "PT1H"}
        return str(self.call("POST", "/sessions", 201, json=body).json()["_id"])

    def set(self, session: str, docs: dict[str, dict[str, Any]], collection: str = "metadata") -> None:
        body = [{"session_id": session, "path": path, "content": content} for path, content in docs.items()]
        self.call("PUT", f"/contents/{collection}/_bulk_set", params={"session_id": session}, json=body)

    def get(
        self, session: str, paths: list[str], collection: str = "metadata", **params: str
    ) -> dict[str, Any]:
        found = self.call(
            "POST", f"/contents/{collection}/_bulk_get", params={"session_id": session, **params}, json=paths
        ).json()
        return {doc["path"]: doc["content"] for doc in found}

    def commit(self, session: str, parent: str | None, status: int = 201) -> httpx.Response:
        body = {
            "session_id": session,
            "session_start_time": T0,
            "parent_commit": parent,
            "commit_time": T0,
            "author_email": AUTHOR,
            "message": f"commit of {session}",
        }
        return self.call("PUT", "/commits", status, json=body)

    def move(self, commit: str, base: str | None, *, new: bool = False, status: int = 200) -> httpx.Response:
        body = {"branch": "main", "new_commit": commit, "new_branch": new, "base_commit": base}
        return self.call("PUT", "/branches", status, json=body)

    def land(self, docs: dict[str, dict[str, Any]], base: str | None = None) -> str:
        """A session writing ``docs`` over ``base``, committed, with main moved to it."""
        session = self.session(base)
        self.set(session, docs)
        commit = str(self.commit(session, base).json()["_id"])
        self.move(commit, base, new=base is None)
        return commit

    def modified(self, session: str) -> list[str]:
        found = self.call("GET", "/modified_paths/metadata", params={"session_id": session}).json()
        chunks = self.call("GET", "/modified_paths/chunks", params={"session_id": session}).json()
        return [p["path"] for p in found + chunks]

    def commit_ids(self) -> list[str]:
        return [c["_id"] for c in self.call("GET", "/commits", params={"limit": 0}).json()]


@pytest.fixture
def v1(org: Org) -> Iterator[V1Http]:
    with httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}) as h:
        made = h.post(f"/orgs/{org.name}/repos", json={"name": "legacy", "kind": "v1"})
        assert made.status_code == 201, made.text
    repo = V1Http(org, "legacy")
    yield repo
    repo.close()


def test_a_session_from_write_to_commit_in_the_wire_shapes(v1: V1Http) -> None:
    s = v1.session()
    info = v1.call("GET", f"/sessions/{s}").json()
    assert info["_id"] == s and info["branch"] == "main" and info["base_commit"] is None
    assert info["session_type"] == "write" and info["author_email"] == AUTHOR
    v1.set(s, {GROUP: {"attributes": {"title": "t"}}, ARRAY: {"attributes": {}, "shape": [2]}})
    v1.set(s, {CHUNK: ref(s, 40)}, "chunks")
    docs = v1.call(
        "POST", "/contents/metadata/_bulk_get", params={"session_id": s}, json=[GROUP, GROUP, "meta/x.json"]
    )
    (doc,) = docs.json()  # duplicates once, missing paths left out
    assert set(doc) == {"id", "session_id", "path", "content", "deleted"} and doc["session_id"] == s
    assert v1.get("read-None", [GROUP]) == {}  # not committed: no other view sees it
    commit = v1.commit(s, None).json()
    assert set(commit) == {"_id"}
    v1.move(commit["_id"], None, new=True)
    c1 = commit["_id"]

    assert v1.call("GET", "/branches", params={"names": ["main", "dev"]}).json() == [
        {"_id": "main", "commit_id": c1}
    ]
    (listed,) = v1.call("GET", "/commits", params={"limit": 0, "last_seen_commit": ""}).json()
    assert listed["_id"] == c1 and listed["parent_commit"] is None and listed["message"] == f"commit of {s}"
    assert v1.call("GET", f"/commits/{c1}").json() == listed
    tag = v1.call("PUT", "/tags", 201, json={"label": "v1.0", "commit_id": c1, "author_email": AUTHOR}).json()
    assert tag["_id"] == "v1.0" and tag["commit_id"] == c1 and tag["commit"] == listed
    # read sessions: read-<hex> sees the commit; base_commit wins; an empty base_commit is null
    read = f"read-{c1}"
    assert v1.get(read, [GROUP]) == {GROUP: {"attributes": {"title": "t"}}}
    assert v1.get(read, [GROUP], base_commit="") == {GROUP: {"attributes": {"title": "t"}}}
    assert v1.get("read-None", [GROUP], base_commit=c1) == {GROUP: {"attributes": {"title": "t"}}}
    listing = v1.call(
        "GET",
        "/contents/metadata/",
        params={"session_id": read, "prefix": "meta/root", "all_subdirs": "false"},
    )
    assert listing.json() == ["meta/root/t.array.json"]
    assert v1.call(
        "GET", "/contents/chunks/", params={"session_id": read, "prefix": "data/", "all_subdirs": "true"}
    ).json() == [CHUNK]
    size = v1.call(
        "GET", "/size/", params={"session_id": read, "base_commit": "", "prefix": "data/root/t"}
    ).json()
    assert size == {"path": "data/root/t", "number_of_chunks": 1, "total_chunk_bytes": 40}
    tree = v1.call("GET", "/tree", params={"session_id": read, "depth": 5, "filter": ""}).json()
    assert tree["attributes"] == {"title": "t"} and set(tree["arrays"]) == {"t"}
    assert v1.call("GET", f"/sessions/metadata/{GROUP}").json()[0]["session_id"] == s
    by_commit = v1.call("GET", "/modified_paths_commit/metadata", params={"commit_id": c1}).json()
    assert [p["path"] for p in by_commit] == [GROUP, ARRAY]  # in path order
    assert v1.call("GET", "/modified_paths/chunks", params={"session_id": read}).json() == []
    assert s not in {x["_id"] for x in v1.call("GET", "/sessions").json()}  # landed: no longer open


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "phrase"),
    [
        ("PUT", "/contents/metadata/_bulk_set", {"json": [{"path": GROUP, "content": [1]}]}, 422, "content"),
        ("PUT", "/contents/metadata/_bulk_set", {"json": [{"content": {}}]}, 422, "path"),
        ("PUT", "/contents/metadata/_bulk_set", {"json": {"not": "a list"}}, 422, "list"),
        (
            "PUT",
            "/contents/metadata/_bulk_set",
            {"json": [{"path": "data/root/t/c0", "content": {}}]},
            422,
            "outside the metadata key space",
        ),
        (
            "PUT",
            "/contents/chunks/_bulk_set",
            {"json": [{"path": GROUP, "content": {}}]},
            422,
            "outside the chunks key space",
        ),
        (
            "PUT",
            "/contents/chunks/_bulk_set",
            {"json": [{"path": CHUNK, "content": {"length": -1}}]},
            422,
            "is not a chunk reference",
        ),
        (
            "PUT",
            "/contents/metadata/_bulk_set",
            {"json": [{"path": "meta/root/../x.json", "content": {}}]},
            422,
            "'..' segment",
        ),
        ("PUT", "/contents/nodes/_bulk_set", {"json": []}, 422, "unknown document collection 'nodes'"),
        ("PUT", "/contents/zarr/_bulk_delete", {"json": [GROUP]}, 422, "unknown document collection 'zarr'"),
        (
            "PUT",
            "/contents/metadata/_bulk_delete",
            {"json": ["/meta/root.group.json"]},
            422,
            "outside the metadata",
        ),
        (
            "PUT",
            "/contents/metadata/_bulk_delete",
            {"json": [GROUP], "params": {"base_commit": "xyz"}},
            422,
            "is not a commit id",
        ),
        (
            "PUT",
            "/contents/metadata/_bulk_delete",
            {"json": [GROUP], "params": {"base_commit": "0" * 24}},
            422,
            "does not exist in this repo",
        ),
        ("PUT", "/contents/nodes/rename", {"params": {"src_path": "", "dst_path": "b"}}, 422, "src_path"),
        (
            "PUT",
            "/contents/nodes/rename",
            {"params": {"src_path": "nope", "dst_path": "b"}},
            422,
            "no group or array",
        ),
        ("DELETE", "/contents/sessions/meta", {}, 422, "unknown document collection 'sessions'"),
        ("PUT", "/commits", {"json": {"message": "m"}}, 422, "session_start_time"),
        ("PUT", "/branches", {"json": {"branch": "main", "new_commit": "not-hex"}}, 422, "new_commit"),
        (
            "PUT",
            "/tags",
            {"json": {"label": "t", "commit_id": "0" * 24, "author_email": AUTHOR}},
            404,
            "does not exist",
        ),
        (
            "POST",
            "/sessions",
            {"json": {"author_email": AUTHOR}},
            422,
            "a session needs a branch or a base_commit",
        ),
        (
            "POST",
            "/sessions",
            {"json": {"branch": "main", "author_email": AUTHOR, "expires_in": "P8D"}},
            422,
            "at most 7 days",
        ),
        (
            "POST",
            "/sessions",
            {"json": {"branch": "b", "base_commit": "f" * 24, "author_email": AUTHOR}},
            422,
            "does not exist in this repo",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_bad_writes_are_refused_and_change_nothing(
    v1: V1Http, method: str, path: str, kwargs: dict[str, Any], status: int, phrase: str
) -> None:
    c1 = v1.land({GROUP: {"attributes": {}}})
    s = v1.session(c1)
    commits = v1.commit_ids()
    sessions = v1.call("GET", "/sessions").json()
    params = {"session_id": s, "base_commit": c1, **kwargs.get("params", {})}
    body = kwargs.get("json")
    if isinstance(body, list):
        body = [{"session_id": s, **doc} if isinstance(doc, dict) else doc for doc in body]
    v1.refused(method, path, status, phrase, params=params, json=body)
    assert v1.modified(s) == []
    assert v1.commit_ids() == commits and v1.call("GET", "/sessions").json() == sessions
    assert v1.call("GET", "/branches").json() == [{"_id": "main", "commit_id": c1}]
    assert v1.call("GET", "/tags").json() == []


@pytest.mark.parametrize(
    ("method", "path", "params", "phrase"),
    [
        ("GET", "/commits/not-a-commit", {}, "is not a commit id"),
        ("GET", "/commits", {"limit": -1}, "limit"),
        ("GET", "/commits", {"last_seen_commit": "zz"}, "is not a commit id"),
        ("GET", "/modified_paths_commit/metadata", {"commit_id": "0" * 24}, "does not exist in this repo"),
        ("GET", "/modified_paths/zarr", {"session_id": "read-None"}, "unknown document collection"),
        ("GET", "/contents/metadata/", {"session_id": "read-xyz"}, "is not a commit id"),
        ("GET", "/contents/metadata/", {"session_id": "read-None", "prefix": "/meta"}, "starts with '/'"),
        (
            "GET",
            "/contents/metadata/",
            {"session_id": "read-None", "filter": "attributes.["},
            "not a JMESPath",
        ),
        ("GET", "/contents/nodes/", {"session_id": "read-None"}, "unknown document collection 'nodes'"),
        ("GET", "/tree", {"session_id": "read-None", "depth": -1}, "depth"),
        ("GET", "/sessions/metadata/data/root/x", {}, "outside the metadata key space"),
    ],
)
def test_bad_reads_are_refused(
    v1: V1Http, method: str, path: str, params: dict[str, Any], phrase: str
) -> None:
    v1.refused(method, path, 422, phrase, params=params)


def test_unknown_sessions_and_commits_are_404(v1: V1Http) -> None:
    v1.refused("GET", "/commits/" + "0" * 24, 404, "does not exist in this repo")
    v1.refused("GET", "/sessions/nope", 404, "does not exist in this repo")
    v1.refused("DELETE", "/sessions/nope", 404, "does not exist in this repo")
    v1.refused(
        "POST",
        "/contents/metadata/_bulk_get",
        404,
        "does not exist",
        params={"session_id": "nope"},
        json=[GROUP],
    )


def test_the_detail_prefixes_clients_match_come_with_422(v1: V1Http) -> None:
    c1 = v1.land({GROUP: {"attributes": {}}})
    empty = v1.session(c1)
    assert v1.commit(empty, c1, 422).json()["detail"].startswith("No changes to commit")
    a, b = v1.session(c1), v1.session(c1)
    v1.set(a, {ARRAY: {"a": 1}})
    v1.set(b, {"meta/root/u.array.json": {"b": 1}})
    ca, cb = v1.commit(a, c1).json()["_id"], v1.commit(b, c1).json()["_id"]
    v1.move(ca, c1)
    assert v1.move(cb, c1, status=422).json()["detail"].startswith("Failed to update branch")
    assert v1.move(cb, None, new=True, status=422).json()["detail"].startswith("Cannot create branch")
    missing = v1.call(
        "POST", "/rebase", 422, params={"session_id": b, "branch_name": "gone", "base_commit": ""}
    )
    assert missing.json()["detail"].startswith("Branch does not exist")
    assert (
        v1.call("DELETE", "/branches", 422, params={"name": "gone"})
        .json()["detail"]
        .startswith("Branch does not exist")
    )
    # the client's retry path: rebase onto the tip, commit again, move the branch
    tip = v1.call(
        "POST", "/rebase", params={"session_id": b, "branch_name": "main", "base_commit": c1}
    ).json()
    assert tip == {"commit_id": ca}
    cb2 = v1.commit(b, ca).json()["_id"]
    v1.move(cb2, ca)
    assert v1.commit_ids()[:2] == [cb2, cb]  # the failed attempt's commit stays, on no branch
    assert v1.get(f"read-{cb2}", [ARRAY, "meta/root/u.array.json"]).keys() == {
        ARRAY,
        "meta/root/u.array.json",
    }


def test_a_compare_and_swap_race_has_one_winner(v1: V1Http) -> None:
    c1 = v1.land({GROUP: {"attributes": {}}})
    commits = []
    for i in range(6):
        s = v1.session(c1)
        v1.set(s, {f"meta/root/a{i}.array.json": {}})
        commits.append(v1.commit(s, c1).json()["_id"])
    answers: list[int] = []
    start = threading.Barrier(len(commits))

    def move(commit: str) -> None:
        with httpx.Client(base_url=v1.org.url, headers=v1.http.headers, timeout=30) as h:
            start.wait()
            body = {"branch": "main", "new_commit": commit, "new_branch": False, "base_commit": c1}
            response = h.put(v1.base + "/branches", json=body)
            assert response.status_code == 200 or response.json()["detail"].startswith(
                "Failed to update branch"
            )
            answers.append(response.status_code)

    threads = [threading.Thread(target=move, args=(c,)) for c in commits]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200] + [422] * (len(commits) - 1)
    (main,) = v1.call("GET", "/branches").json()
    assert main["commit_id"] in commits


def test_read_sessions_take_no_writes(v1: V1Http) -> None:
    c1 = v1.land({GROUP: {"attributes": {}}})
    for session in (f"read-{c1}", "read-None"):
        body = [{"session_id": session, "path": ARRAY, "content": {}}]
        v1.refused(
            "PUT",
            "/contents/metadata/_bulk_set",
            422,
            "is a read session",
            params={"session_id": session},
            json=body,
        )
        v1.refused(
            "POST", "/rebase", 422, "is a read session", params={"session_id": session, "branch_name": "main"}
        )
        assert v1.call("GET", "/modified_paths/metadata", params={"session_id": session}).json() == []
    assert v1.get(f"read-{c1}", [ARRAY]) == {}


def test_sessions_extend_and_abandon(v1: V1Http) -> None:
    s = v1.session()
    v1.set(s, {GROUP: {"attributes": {}}})
    longer = v1.call("PUT", f"/sessions/{s}", json={"session_id": s, "expires_in": "P2D"}).json()
    assert longer["expiration"] > v1.call("GET", f"/sessions/{s}").json()["start_time"][:10]
    v1.refused(
        "PUT",
        f"/sessions/{s}",
        422,
        "differs from the session in the path",
        json={"session_id": "x", "expires_in": "P1D"},
    )
    assert s in {x["_id"] for x in v1.call("GET", "/sessions").json()}
    v1.call("DELETE", f"/sessions/{s}")
    assert s not in {x["_id"] for x in v1.call("GET", "/sessions").json()}
    v1.refused(
        "PUT",
        "/contents/metadata/_bulk_set",
        422,
        "was abandoned",
        params={"session_id": s},
        json=[{"session_id": s, "path": ARRAY, "content": {}}],
    )
    assert v1.get(s, [GROUP]) == {}  # its writes went with it


def test_kinds_are_kept_apart(org: Org, v1: V1Http) -> None:
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/ice")
    ice = V1Http(org, "ice")
    try:
        for method, path in (("GET", "/commits"), ("POST", "/sessions"), ("GET", "/contents/metadata/")):
            ice.refused(
                method, path, 409, f"repo {org.name}/ice is an icechunk repo: this route serves legacy V1"
            )
    finally:
        ice.close()
    opened = v1.call("GET", "/open").json()
    repo = v1.call("GET", "").json()
    assert opened["kind"] == "v1" and repo["kind"] == "v1"
    assert opened["repo_prefix"] == repo["prefix"] == repo["_id"]  # the local bucket has no prefix
    assert opened["virtual_chunk_credentials"] == {}
    v1.refused(
        "GET",
        "/virtual-chunk-credentials",
        404,
        "not a virtual chunk container",
        params={"url_prefix": "s3://b/"},
    )


def test_status_guards_v1_routes(v1: V1Http) -> None:
    c1 = v1.land({GROUP: {"attributes": {}}})
    status = f"/orgs/{v1.org.name}/{v1.name}/status"
    v1.http.put(status, json={"mode": "maintenance", "message": "moving"}).raise_for_status()
    try:
        v1.refused(
            "POST",
            "/sessions",
            409,
            "is in maintenance and read-only: moving",
            json={"branch": "main", "author_email": AUTHOR},
        )
        assert v1.get(f"read-{c1}", [GROUP]) == {GROUP: {"attributes": {}}}
        v1.http.put(status, json={"mode": "offline"}).raise_for_status()
        v1.refused("GET", "/commits", 409, "is offline")
    finally:
        v1.http.put(status, json={"mode": "online"}).raise_for_status()


def _count_rows(org: Org, repo_id: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = make_engine(org.service.settings.resolved_database_url)
        try:
            async with engine.connect() as conn:
                return {
                    table.name: (
                        await conn.execute(
                            select(func.count()).select_from(table).where(table.c.repo_id == repo_id)
                        )
                    ).scalar_one()
                    for table in (v1_documents, v1_sessions, v1_commits)
                }
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_deleting_a_v1_repo_removes_its_documents_and_chunks(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/doomed"
    repo = client.create_repo(name, kind="v1")
    values = np.random.default_rng(3).random((4, 100))  # incompressible: 800-byte chunks go to objects
    root = zarr.open_group(repo.store, mode="a", zarr_format=3)
    root.create_array("t", shape=(4, 100), chunks=(1, 100), dtype="f8")[:] = values
    repo.commit("data")
    record = client.get_repo_object(name)
    local = Path(str(client.get_bucket_config(org=org.name, nickname="local").extra_config["local_path"]))
    chunks = local / record.prefix / "chunks"
    assert len(list(chunks.iterdir())) == 4
    rows = _count_rows(org, record.id)
    assert rows["v1_documents"] > 4 and rows["v1_commits"] == 1

    client.delete_repo(name, imsure=True, imreallysure=True, immediate=False)  # a ghost keeps everything
    assert _count_rows(org, record.id) == rows and len(list(chunks.iterdir())) == 4
    client.restore_repo(name)
    restored = zarr.open_group(client.get_repo(name).store, mode="r", zarr_format=3)
    np.testing.assert_array_equal(restored["t"][:], values)

    client.delete_repo(name, imsure=True, imreallysure=True, immediate=True)
    assert not (local / record.prefix).exists()
    assert _count_rows(org, record.id) == {"v1_documents": 0, "v1_sessions": 0, "v1_commits": 0}
