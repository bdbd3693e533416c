"""Pure logic of V1 repos: ref resolution, commit-log rendering, and pickles that carry the session.

Ref resolution runs against canned branch, tag and commit lists; the service's behaviour is tested
end to end elsewhere.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from arraylake.client.transport import Transport
from arraylake.repos.v1 import AsyncRepo, Author, CommitData, CommitLog, LocalWriteSession, Repo
from arraylake.repos.v1.metastore import Metastore
from arraylake.types.v1 import Branch, Commit, Tag

from .test_chunkstore import local_chunkstore

C1, C2, C3 = (f"65f1c2d3e4a5b6c7d8e9f00{i}" for i in (1, 2, 3))
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def commit(cid: str, parent: str | None, n: int) -> Commit:
    return Commit.model_validate(
        {
            "_id": cid,
            "session_start_time": T0,
            "parent_commit": parent,
            "commit_time": T0 + timedelta(hours=n),
            "author_name": "Ada L",
            "author_email": "ada@example.com",
            "message": f"change {n}",
        }
    )


COMMITS = [commit(C3, C2, 3), commit(C2, C1, 2), commit(C1, None, 1)]
TAG = Tag(label="v1", created_at=T0, commit=COMMITS[1], author_email="ada@example.com")


class CannedRefs(Metastore):
    """Answers ref lookups from fixed lists."""

    async def get_branches(self, names: Sequence[str] = ()) -> list[Branch]:
        branches = [Branch.model_validate({"_id": "dev", "commit_id": C3})]
        return [b for b in branches if not names or b.id in names]

    async def get_tags(self, names: Sequence[str] = ()) -> list[Tag]:
        return [t for t in [TAG] if not names or t.label in names]

    async def all_commits(self) -> list[Commit]:
        return COMMITS


def repo_with(db: Metastore, tmp_path: Path) -> AsyncRepo:
    return AsyncRepo(
        db, local_chunkstore(tmp_path), "org/repo", Author(name="Ada L", email="ada@example.com")
    )


def metastore(cls: type[Metastore] = Metastore) -> Metastore:
    return cls(Transport("http://127.0.0.1:9", "ema_test"), "ema_test", "org", "repo")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("dev", (C3, "dev")),  # a branch: its tip, writable
        ("main", (None, "main")),  # main exists before its first commit
        ("v1", (C2, None)),  # a tag: detached
        (C1, (C1, None)),  # a commit: detached
    ],
)
def test_refs_resolve(tmp_path: Path, ref: str, expected: tuple[str | None, str | None]) -> None:
    assert asyncio.run(repo_with(metastore(CannedRefs), tmp_path).get_ref(ref)) == expected


@pytest.mark.parametrize("ref", ["nope", "65f1c2d3e4a5b6c7d8e9f0ff"])
def test_unknown_refs_raise(tmp_path: Path, ref: str) -> None:
    with pytest.raises(ValueError, match="not"):
        asyncio.run(repo_with(metastore(CannedRefs), tmp_path).get_ref(ref))


def test_read_checkouts_stay_local(tmp_path: Path) -> None:
    repo = repo_with(metastore(CannedRefs), tmp_path)
    assert asyncio.run(repo.checkout("v1")) == C2
    assert repo.session.id == f"read-{C2}"
    assert not repo.session.writable
    with pytest.raises(OSError, match="for_writing=True"):
        asyncio.run(repo._set_doc("meta/root.group.json", {"attributes": {}}))


def log() -> CommitLog:
    return CommitLog("org/repo", C3, CommitData({c.id: c for c in COMMITS}, {"v1": C2}, {"dev": C3}))


def test_the_log_walks_parents_newest_first() -> None:
    assert [c.id for c in log()] == [C3, C2, C1]
    assert [c.id for c in CommitLog("org/repo", C2, log().commit_data)] == [C2, C1]
    assert list(CommitLog("org/repo", None, CommitData())) == []


def test_the_log_in_a_terminal() -> None:
    console = Console(record=True, width=100)
    console.print(log())
    text = console.export_text()
    assert f"commit {C3} (branch: dev)" in text
    assert f"commit {C2} (tag: v1)" in text
    assert "Author: Ada L <ada@example.com>" in text
    assert text.index("change 3") < text.index("change 1")


def test_the_log_in_a_notebook() -> None:
    html = log()._repr_html_()
    assert html.count("<tr>") == 4
    assert C1 in html and "tag: v1" in html and "Ada L &lt;ada@example.com&gt;" in html


def write_session(db: Metastore) -> LocalWriteSession:
    return LocalWriteSession(
        _id="shared-session",
        db=db,
        start_time=T0,
        branch="main",
        base_commit=C1,
        author_email="ada@example.com",
        expiration=T0 + timedelta(days=1),
    )


def test_pickled_repos_and_stores_carry_the_session(tmp_path: Path) -> None:
    arepo = repo_with(metastore(), tmp_path)
    arepo._session = write_session(arepo.db)
    for thing in (arepo, Repo(arepo)):
        copy = pickle.loads(pickle.dumps(thing))  # noqa: S301 (our own bytes)
        assert copy.session.id == "shared-session"
        assert copy.session.base_commit == C1
        assert copy.session.writable
    store = pickle.loads(pickle.dumps(arepo.store))  # noqa: S301
    assert store == arepo.store
    assert not store.read_only
    db = store.repo.db
    assert (db.org, db.repo, db.token, db.service_uri) == ("org", "repo", "ema_test", "http://127.0.0.1:9")
    assert store.repo.session.db is not None
    assert store.repo.chunkstore.prefix == arepo.chunkstore.prefix


def test_v1_repos_take_no_prefix() -> None:
    from arraylake import AsyncClient
    from arraylake.types import RepoKind

    client = AsyncClient("http://127.0.0.1:9", token="ema_not-used-because-nothing-is-sent")
    with pytest.raises(ValueError, match="no prefix"):
        asyncio.run(client.create_repo("org/repo", kind=RepoKind.V1, prefix="somewhere"))
