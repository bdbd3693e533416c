"""Listings, filters, prefix deletes, sizes, the node tree, renames, modified paths and bad input, on
SQLite and PostgreSQL; and an index check at 100,000 chunk references."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.errors import InvalidInput
from arraylake.server.v1 import documents, listing, nodes
from arraylake.server.v1.keys import collection
from arraylake.server.v1.views import read_view
from arraylake.types.v1 import BulkCreateDocBody
from tests.v1.support import CHUNKS, META, V1, ref

ARRAY = {"shape": [4], "data_type": "<f4", "attributes": {"units": "K", "_ARRAY_DIMENSIONS": ["x"]}}


@pytest.fixture
async def filled(engine: AsyncEngine, repo: str) -> tuple[V1, str, str]:
    """A landed commit with groups a, a/b, arrays a/t, a/b/u, and chunks; plus an open session over it."""
    v1 = V1(engine, repo)
    s = await v1.session()
    await v1.set(
        s,
        META,
        {
            "meta/root.group.json": {"attributes": {"title": "top"}},
            "meta/root/a.group.json": {"attributes": {}},
            "meta/root/a/t.array.json": ARRAY,
            "meta/root/a/b.group.json": {"attributes": {"deep": True}},
            "meta/root/a/b/u.array.json": {**ARRAY, "attributes": {"units": "m"}},
        },
    )
    await v1.set(s, CHUNKS, {f"data/root/a/t/c{i}": ref(10 + i, s) for i in range(4)})
    c1 = await v1.land(s, None)
    return v1, c1, await v1.session(base=c1)


async def test_listing_recursive_and_by_directory(filled: tuple[V1, str, str]) -> None:
    v1, c1, s = filled
    everything = await v1.ls(s, c1, META, "meta/", all_subdirs=True)
    assert everything == sorted(everything) and len(everything) == 5
    assert await v1.ls(s, c1, META, "meta/root/a", all_subdirs=False) == [
        "meta/root/a/b.group.json",
        "meta/root/a/b",
        "meta/root/a/t.array.json",
    ]
    assert await v1.ls(s, c1, CHUNKS, "data/root/a/", all_subdirs=False) == ["data/root/a/t"]
    # a deleted subtree vanishes from both kinds of listing, for the session only
    await v1.delete(s, c1, META, ["meta/root/a/b/u.array.json"])
    assert "meta/root/a/b" not in await v1.ls(s, c1, META, "meta/root/a/")
    assert "meta/root/a/b" in await v1.ls(f"read-{c1}", c1, META, "meta/root/a/")
    assert await v1.ls(s, c1, META, "meta/root/a/b/", all_subdirs=True) == []
    assert await v1.ls("read-None", None, META, "meta/", all_subdirs=True) == []


async def test_jmespath_filter(filled: tuple[V1, str, str]) -> None:
    v1, c1, s = filled
    kelvin = await v1.ls(s, c1, META, "meta/root", all_subdirs=True, filter="attributes.units == 'K'")
    assert kelvin == ["meta/root/a/t.array.json"]
    both = await v1.ls(s, c1, META, "meta/root", all_subdirs=True, filter="shape[0] == `4`")
    assert both == ["meta/root/a/b/u.array.json", "meta/root/a/t.array.json"]
    assert await v1.ls(s, c1, META, "meta/root/a/", filter="attributes.units") == ["meta/root/a/t.array.json"]
    with pytest.raises(InvalidInput, match="not a JMESPath expression"):
        await v1.ls(s, c1, META, "meta/", filter="attributes.[")


async def test_prefix_delete_size_and_tree(filled: tuple[V1, str, str]) -> None:
    v1, c1, s = filled
    async with v1.engine.connect() as conn:
        view = await read_view(conn, v1.repo_id, s, c1)
        size = await listing.prefix_size(conn, v1.repo_id, view, "data/root/a/t/")
        assert (size.number_of_chunks, size.total_chunk_bytes) == (4, 10 + 11 + 12 + 13)
        tree = await nodes.tree(conn, v1.repo_id, view)
        assert tree.attributes == {"title": "top"}
        assert tree.trees["a"].arrays["t"]["shape"] == [4]
        assert tree.trees["a"].trees["b"].attributes == {"deep": True}
        assert "u" in tree.trees["a"].trees["b"].arrays
        shallow = await nodes.tree(conn, v1.repo_id, view, "meta/root/a", depth=1)
        assert set(shallow.arrays) == {"t"} and shallow.trees["b"].arrays == {}
        only_m = await nodes.tree(conn, v1.repo_id, view, filter="attributes.units == 'm'")
        assert only_m.trees["a"].arrays == {} and set(only_m.trees["a"].trees["b"].arrays) == {"u"}
    async with v1.engine.begin() as conn:
        assert await listing.delete_prefix(conn, v1.repo_id, CHUNKS, s, c1, "data/root/a/t/c") == 4
    async with v1.engine.connect() as conn:
        view = await read_view(conn, v1.repo_id, s, c1)
        assert (await listing.prefix_size(conn, v1.repo_id, view, "data/root/")).number_of_chunks == 0
        other = await read_view(conn, v1.repo_id, f"read-{c1}", c1)
        assert (await listing.prefix_size(conn, v1.repo_id, other, "data/root/")).number_of_chunks == 4


async def test_rename_moves_a_node_with_its_children_and_chunks(filled: tuple[V1, str, str]) -> None:
    v1, c1, s = filled
    async with v1.engine.begin() as conn:
        moved = await nodes.rename_node(conn, v1.repo_id, s, c1, "a", "z")
    assert moved == 4 + 4
    assert await v1.ls(s, c1, META, "meta/root", all_subdirs=True) == [
        "meta/root.group.json",
        "meta/root/z.group.json",
        "meta/root/z/b.group.json",
        "meta/root/z/b/u.array.json",
        "meta/root/z/t.array.json",
    ]
    chunks = await v1.get(s, c1, CHUNKS, ["data/root/z/t/c3", "data/root/a/t/c3"])
    assert list(chunks) == ["data/root/z/t/c3"] and chunks["data/root/z/t/c3"]["length"] == 13
    async with v1.engine.begin() as conn:
        with pytest.raises(InvalidInput, match="no group or array"):
            await nodes.rename_node(conn, v1.repo_id, s, c1, "a", "y")
    async with v1.engine.begin() as conn:
        with pytest.raises(InvalidInput, match="exists already"):
            await nodes.rename_node(conn, v1.repo_id, s, c1, "z/t", "z/b")


async def test_modified_paths_and_document_sessions(filled: tuple[V1, str, str]) -> None:
    v1, c1, s = filled
    await v1.set(s, META, {"meta/root/a/t.array.json": {**ARRAY, "shape": [8]}})
    await v1.delete(s, c1, CHUNKS, ["data/root/a/t/c0"])
    async with v1.engine.connect() as conn:
        meta = await documents.modified_paths(conn, v1.repo_id, "metadata", s)
        assert [(m.path, m.deleted) for m in meta] == [("meta/root/a/t.array.json", False)]
        gone = await documents.modified_paths(conn, v1.repo_id, "chunks", s)
        assert [(m.path, m.deleted) for m in gone] == [("data/root/a/t/c0", True)]
        assert await documents.modified_paths(conn, v1.repo_id, "nodes", s) == []
        first = await documents.modified_paths_commit(conn, v1.repo_id, "chunks", c1, limit=2)
        assert [m.path for m in first] == ["data/root/a/t/c0", "data/root/a/t/c1"]
        versions = await documents.doc_sessions(conn, v1.repo_id, CHUNKS, "data/root/a/t/c0")
        assert [(v.deleted, v.chunksize) for v in versions] == [(False, 10), (True, 0)]
        assert versions[1].session_id == s


async def test_bad_input_is_refused_and_changes_nothing(filled: tuple[V1, str, str]) -> None:
    v1, c1, s = filled
    bad_batches = [
        (META, {"meta/root/ok.group.json": {}, "data/root/x/c0": {}}, "outside the metadata key space"),
        (META, {"meta/root/../x.group.json": {}}, "segment"),
        (META, {"meta/root/x.txt": {}}, "not a metadata document"),
        (CHUNKS, {"data/root/x/c0": {"uri": None, "offset": 0, "length": 1}}, "not a chunk reference"),
        (CHUNKS, {"data/root/x/c0": {**ref(1), "sid": None}}, "session id"),
        (CHUNKS, {"data/root/x/c0": {"uri": "http://x", "offset": 0, "length": 1, "hash": None}}, "s3://"),
        (CHUNKS, {"meta/root/x": ref(1)}, "outside the chunks key space"),
    ]
    for coll, docs, problem in bad_batches:
        with pytest.raises(InvalidInput, match=problem) as refused:
            await v1.set(s, coll, docs)
        assert refused.value.status_code == 422
    with pytest.raises(InvalidInput, match="unknown document collection"):
        collection("nodes")
    async with v1.engine.begin() as conn:
        with pytest.raises(InvalidInput, match="not the query's"):
            body = [BulkCreateDocBody(session_id="other", path="meta/root/q.group.json", content={})]
            await documents.bulk_set(conn, v1.repo_id, META, s, body)
    with pytest.raises(InvalidInput, match="not a commit id"):
        await v1.ls(s, "nothex", META, "meta/")
    with pytest.raises(InvalidInput, match="does not exist"):
        await v1.ls(s, "f" * 24, META, "meta/")
    with pytest.raises(InvalidInput, match="starts with '/'"):
        await v1.ls(s, c1, META, "/meta")
    async with v1.engine.connect() as conn:
        assert await documents.modified_paths(conn, v1.repo_id, "metadata", s) == []
        assert await documents.modified_paths(conn, v1.repo_id, "chunks", s) == []


async def test_paths_compare_byte_by_byte(engine: AsyncEngine, repo: str) -> None:
    """Prefix ranges rely on code point order, whatever the database's locale."""
    v1 = V1(engine, repo)
    s = await v1.session()
    names = ["B", "a", "a-b", "a.b", "a0", "_", "é", "Z"]
    await v1.set(s, META, {f"meta/root/{n}/g.group.json": {} for n in names})
    await v1.set(s, META, {"meta/root/a/g.group.json": {}})
    assert await v1.ls(s, None, META, "meta/root/a", all_subdirs=True) == sorted(
        f"meta/root/{n}/g.group.json" for n in names if n.startswith("a")
    )
    assert await v1.ls(s, None, META, "meta/root/") == [
        f"meta/root/{n}" for n in sorted(names, key=lambda n: n + "/")
    ]
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            query = (
                "select collation_name from information_schema.columns"
                " where table_name = 'v1_documents' and column_name = 'path'"
            )
            assert (await conn.execute(text(query))).scalar_one() == "C"


async def test_lookups_and_directory_listings_use_the_index_at_scale(engine: AsyncEngine, repo: str) -> None:
    v1 = V1(engine, repo)
    s = await v1.session()
    for start in range(0, 100_000, 10_000):
        await v1.set(
            s,
            CHUNKS,
            {f"data/root/big/c{i // 1000}/{i % 1000}": ref(1, s) for i in range(start, start + 10_000)},
        )
    c1 = await v1.land(s, None)
    assert len(await v1.get(f"read-{c1}", c1, CHUNKS, ["data/root/big/c42/7"])) == 1
    # a directory of 100 sub-directories of 1,000 chunks each: one probe per child
    assert await v1.ls(f"read-{c1}", c1, CHUNKS, "data/root/big/") == sorted(
        f"data/root/big/c{i}" for i in range(100)
    )
    small = await v1.session(base=c1)
    await v1.set(small, CHUNKS, {f"data/root/small/c{i}": ref(1, small) for i in range(10)})
    async with engine.connect() as conn:
        seq = (
            await conn.execute(text("select seq from v1_sessions where id = :s"), {"s": small})
        ).scalar_one()
        lookup = (
            "select path, session_seq, deleted from v1_documents"
            f" where repo_id = '{repo}' and collection = 2 and path in ('data/root/big/c42/7')"
        )
        mine = f"select path from v1_documents where session_seq = {seq} and collection = 2 order by path"
        if engine.dialect.name == "sqlite":
            lookup_plan, mine_plan = [
                " ".join(row[-1] for row in await conn.execute(text(f"explain query plan {query}")))
                for query in (lookup, mine)
            ]
            assert "INDEX sqlite_autoindex_v1_documents_1" in lookup_plan and "SCAN" not in lookup_plan
            assert (
                "ix_v1_documents_session_seq_collection_path" in mine_plan and "TEMP B-TREE" not in mine_plan
            )
        else:
            await conn.execute(text("analyze v1_documents"))
            lookup_plan, mine_plan = [
                " ".join(row[0] for row in await conn.execute(text(f"explain {query}")))
                for query in (lookup, mine)
            ]
            assert "pk_v1_documents" in lookup_plan and "Seq Scan" not in lookup_plan, lookup_plan
            assert "ix_v1_documents_session_seq_collection_path" in mine_plan, mine_plan
            assert "Sort" not in mine_plan, mine_plan


async def test_purging_a_repo_deletes_its_documents_in_batches(engine: AsyncEngine, repo: str) -> None:
    v1 = V1(engine, repo)
    s = await v1.session()
    await v1.set(s, CHUNKS, {f"data/root/t/c{i}": ref(1, s) for i in range(25)})
    found = []
    for _ in range(4):
        async with engine.begin() as conn:
            found.append(await documents.purge_documents(conn, repo, 10))
    assert found == [10, 10, 5, 0]
    assert await v1.get(s, None, CHUNKS, ["data/root/t/c0"]) == {}
