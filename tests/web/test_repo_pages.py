"""A repo's overview, tree, branches & tags and history pages, as people of each role see them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx
import icechunk
import pytest
import zarr

from arraylake import Client
from arraylake.server.browse import tree
from arraylake.server.browse.tree import axis_of, normalize_path
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.types import RepoKind
from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, web_user, write_sample_repo

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _ById(HTMLParser):
    """The text inside the element with a given id (its descendants' text, whitespace collapsed)."""

    def __init__(self, dom_id: str):
        super().__init__()
        self.dom_id = dom_id
        self.depth = 0
        self.found = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            if tag not in VOID:
                self.depth += 1
        elif dict(attrs).get("id") == self.dom_id and not self.found:
            self.found = True
            self.depth = 0 if tag in VOID else 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def text_of(page: str, dom_id: str) -> str:
    """The text of the element ``#dom_id`` of ``page``; fails the test when there is none."""
    parser = _ById(dom_id)
    parser.feed(page)
    assert parser.found, f"no element #{dom_id} on the page"
    return " ".join(" ".join(parser.parts).split())


def has_id(page: str, dom_id: str) -> bool:
    return f'id="{dom_id}"' in page


@dataclass
class Shared:
    """One org with a sample repo and its admin, for the tests that only look (built once per backend)."""

    org: Org
    sample: SampleRepo
    admin: WebUser


@pytest.fixture(scope="module")
def shared(service: ArraylakeService) -> Iterator[Shared]:
    org = service.new_org()
    admin = web_user(service, org.name, "admin", "admin")
    yield Shared(org, write_sample_repo(org), admin)
    admin.close()


def api(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=60)


def commit_messages(page: str) -> list[str]:
    return [" ".join(m.split()) for m in re.findall(r'<td class="commit-message">([^<]*)</td>', page)]


# ------------------------------------------------------------------------------------------------ overview


def test_overview_shows_the_catalog_facts_access_and_contents(
    admin: WebUser, org: Org, sample: SampleRepo
) -> None:
    with api(org) as call:
        changed = call.put(
            f"/orgs/{org.name}/{sample.name}/status", json={"mode": "maintenance", "message": "Reindexing"}
        )
        assert changed.status_code == 200, changed.text
        patched = call.patch(f"/orgs/{org.name}/{sample.name}", json={"add_metadata": {"source": "ERA5"}})
        assert patched.status_code == 200, patched.text
        setter = call.get("/user").json()
    page = admin.get(sample.path)
    assert page.status_code == 200, page.text
    text = page.text
    assert text_of(text, "repo-description") == "Sample weather data"
    assert text_of(text, "repo-kind") == "Icechunk"
    assert text_of(text, "repo-bucket").startswith("local") or "local" in text_of(text, "repo-bucket")
    status = text_of(text, "repo-status")
    assert "maintenance" in status and "Reindexing" in status
    assert "set by" in status and str(setter.get("email") or setter.get("name") or "") in status
    assert "ERA5" in text_of(text, "repo-metadata") and "source" in text_of(text, "repo-metadata")
    assert text_of(text, "branch-count") == "2 branches" and text_of(text, "tag-count") == "1 tag"
    assert text_of(text, "latest-message") == "Units as degK, add wind"
    assert text_of(text, "latest-author") != "—"
    assert f'client.get_repo("{org.name}/{sample.name}")' in text_of(text, "open-snippet")
    assert text_of(text, "my-rights").startswith("You can read, write")
    roles = text_of(text, "access-roles")
    assert admin.email in roles
    assert has_id(text, "repo-grants"), "an admin sees the repo's grants"
    assert f'href="/app/{org.name}/{sample.name}/settings"' in text


def test_overview_stands_without_the_icechunk_parts(
    service: ArraylakeService, admin: WebUser, org: Org
) -> None:
    with api(org) as call:
        registered = call.post(
            f"/orgs/{org.name}/repos", json={"name": "registered", "description": "Not yet"}
        )
        assert registered.status_code in (200, 201), registered.text
    client = Client(service_uri=org.url, token=org.token)
    client.create_repo(f"{org.name}/legacy", kind=RepoKind.V1, description="Old style")

    page = admin.get(f"/app/{org.name}/registered")
    assert page.status_code == 200, page.text
    assert text_of(page.text, "repo-description") == "Not yet"
    assert "could not be read from storage" in text_of(page.text, "contents-note")
    assert not has_id(page.text, "branch-count")

    legacy = admin.get(f"/app/{org.name}/legacy")
    assert legacy.status_code == 200, legacy.text
    assert text_of(legacy.text, "repo-kind") == "V1 (legacy)"
    assert "V1" in text_of(legacy.text, "contents-note")
    tree = admin.get(f"/app/{org.name}/legacy/tree")
    assert tree.status_code == 404 and "legacy V1" in text_of(tree.text, "error-detail")


# ------------------------------------------------------------------------------------------------ tree


def test_tree_at_main_lists_arrays_with_their_metadata_and_axes(shared: Shared) -> None:
    admin, sample = shared.admin, shared.sample
    page = admin.get(f"{sample.path}/tree?ref=main")
    assert page.status_code == 200, page.text
    text = page.text
    node = text_of(text, "node-weather--temperature")
    assert "temperature" in node and "(4, 18, 36)" in node and "float32" in node and "(1, 9, 9)" in node
    assert "T/Y/X" in node
    assert has_id(text, "node-weather--wind") and has_id(text, "node-weather--station")
    assert text_of(text, "node-attributes") == "No attributes.", "the root's details by default"
    group = admin.get(f"{sample.path}/tree?ref=main&path=weather")
    assert "Sample weather" in text_of(group.text, "node-attributes")

    detail = admin.get(f"{sample.path}/tree", params={"ref": "main", "path": "/weather/temperature"})
    assert detail.status_code == 200, detail.text
    text = detail.text
    assert text_of(text, "array-shape") == "(4, 18, 36)"
    assert text_of(text, "array-chunks") == "(1, 9, 9)"
    assert text_of(text, "array-dtype") == "float32"
    assert text_of(text, "array-chunk-count") == "32"
    assert text_of(text, "array-fill") == "NaN"
    assert text_of(text, "array-dims") == "time, lat, lon"
    assert "zstd" in text_of(text, "array-codecs") or "bytes" in text_of(text, "array-codecs")
    assert "air_temperature" in text_of(text, "node-attributes")
    assert text_of(text, "axis-time").split()[:2] == ["time", "T"]
    assert "2026-01-01" in text_of(text, "axis-time") and "2026-01-04" in text_of(text, "axis-time")
    assert text_of(text, "axis-lat") == "lat Y -85 85 degrees_north"
    assert text_of(text, "axis-lon") == "lon X -175 175 degrees_east"
    link = re.search(r'id="data-link" href="([^"]*)"', text)
    assert link and link.group(1) == (
        f"/app/{sample.org}/{sample.name}/data?ref=main&amp;path=weather/temperature"
    )


def test_tree_at_a_tag_a_snapshot_and_unknown_refs(shared: Shared) -> None:
    admin, sample = shared.admin, shared.sample
    at_tag = admin.get(f"{sample.path}/tree?ref=v1")
    assert at_tag.status_code == 200, at_tag.text
    assert has_id(at_tag.text, "node-weather--temperature") and not has_id(at_tag.text, "node-weather--wind")
    assert text_of(at_tag.text, "current-ref") == "v1"

    first = sample.snapshots[0]
    at_snapshot = admin.get(f"{sample.path}/tree", params={"snapshot": first, "ref": "main"})
    assert at_snapshot.status_code == 200, at_snapshot.text
    assert text_of(at_snapshot.text, "current-ref") == first, "the picker's snapshot field wins over ref"
    assert not has_id(at_snapshot.text, "node-weather--wind")
    by_ref = admin.get(f"{sample.path}/tree?ref={sample.snapshots[2]}")
    assert by_ref.status_code == 200 and has_id(by_ref.text, "node-weather--wind")

    unknown = admin.get(f"{sample.path}/tree?ref=nope")
    assert unknown.status_code == 404 and "nope" in text_of(unknown.text, "error-detail")
    missing_node = admin.get(f"{sample.path}/tree", params={"ref": "v1", "path": "weather/wind"})
    assert missing_node.status_code == 404 and "/weather/wind" in text_of(missing_node.text, "error-detail")
    bad_path = admin.get(f"{sample.path}/tree", params={"path": "weather/../x"})
    assert bad_path.status_code == 422
    unknown_repo = admin.get(f"/app/{sample.org}/no-such-repo/tree")
    assert unknown_repo.status_code == 404


def test_axes_and_paths_are_read_as_cf_and_zarr_say() -> None:
    assert axis_of({"axis": "y"}) == "Y"
    assert axis_of({"standard_name": "longitude"}) == "X"
    assert axis_of({"units": "degrees_north"}) == "Y"
    assert axis_of({"units": "hours since 2000-01-01 00:00:00"}) == "T"
    assert axis_of({"positive": "down"}) == "Z"
    assert axis_of({"axis": "", "units": "m"}) is None
    assert normalize_path("/a//b/") == "a/b" and normalize_path(None) == ""
    with pytest.raises(InvalidInput):
        normalize_path("a/../b")


def _memory_repo() -> tuple[icechunk.Repository, str]:
    """An in-memory Icechunk repository with a sharded array and 5 groups."""
    repository = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repository.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    root.create_array("sharded", shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="int16")
    for i in range(5):
        root.create_group(f"g{i}")
    return repository, session.commit("shapes")


def test_a_large_tree_is_cut_at_its_bound_and_says_how_much_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    repository, snapshot_id = _memory_repo()

    async def read() -> tree.Tree:
        return await tree.read_tree(await repository.readonly_session_async(snapshot_id=snapshot_id))

    whole = asyncio.run(read())
    assert whole.shown == 6 and whole.more == 0
    sharded = whole.by_path["sharded"].array
    assert sharded is not None and (sharded.chunks, sharded.shards) == ((2, 2), (4, 4))
    assert (sharded.chunk_count, sharded.shard_count) == (16, 4)
    assert sharded.codecs[0].startswith("sharding_indexed (inner chunks (2, 2)")
    assert sharded.dimension_names is None and sharded.axes == []
    with pytest.raises(NotFound):
        tree.node_or_404(whole, "nope")

    monkeypatch.setattr(tree, "MAX_NODES", 3)
    cut = asyncio.run(read())
    assert cut.shown == 3 and cut.more == 3 and not cut.more_is_lower_bound


def test_cf_time_values_read_as_dates() -> None:
    assert tree._time_text(3, "days since 2026-01-01", None) == "2026-01-04 (3)"
    assert tree._time_text(90, "minutes since 2026-01-01 00:00:00", "standard") == "2026-01-01 01:30:00 (90)"
    assert tree._time_text(3, "days since 2026-01-01", "noleap") == "3", "other calendars stay numbers"
    assert tree._time_text(3, "fortnights since 2026-01-01", None) == "3"


# ------------------------------------------------------------------------------------------- refs, history


def test_refs_list_branches_and_tags_with_their_commits(shared: Shared) -> None:
    admin, sample = shared.admin, shared.sample
    page = admin.get(f"{sample.path}/refs")
    assert page.status_code == 200, page.text
    main, dev, v1 = (text_of(page.text, i) for i in ("branch-main", "branch-dev", "tag-v1"))
    assert sample.snapshots[2] in main and "Units as degK, add wind" in main
    assert sample.snapshots[1] in dev and "Warm the west at time 1" in dev
    assert sample.snapshots[0] in v1 and "Initial weather data" in v1
    assert f'href="/app/{sample.org}/{sample.name}/tree?ref=dev"' in page.text
    assert f'href="/app/{sample.org}/{sample.name}/history?ref=v1"' in page.text


def test_history_lists_commits_newest_first_with_authors_and_compare_links(shared: Shared) -> None:
    admin, sample = shared.admin, shared.sample
    page = admin.get(f"{sample.path}/history?ref=main")
    assert page.status_code == 200, page.text
    messages = commit_messages(page.text)
    assert messages[:3] == ["Units as degK, add wind", "Warm the west at time 1", "Initial weather data"]
    assert messages[3:] == ["Repository initialized"]
    authors = [" ".join(a.split()) for a in re.findall(r'<td class="commit-author">([^<]*)</td>', page.text)]
    assert all(a != "—" for a in authors[:3]) and len(set(authors[:3])) == 1, authors
    newest, parent = sample.snapshots[2], sample.snapshots[1]
    assert f'href="/app/{sample.org}/{sample.name}/diff?from={parent}&amp;to={newest}"' in page.text
    assert f'href="/app/{sample.org}/{sample.name}/tree?ref={newest}"' in page.text
    assert f'action="/app/{sample.org}/{sample.name}/diff"' in page.text
    assert f'name="to" value="{newest}" aria-label="Compare to {newest}" checked' in page.text
    assert f'name="from" value="{parent}" aria-label="Compare from {parent}" checked' in page.text
    assert not has_id(page.text, "older-page")

    dev = admin.get(f"{sample.path}/history?ref=dev")
    assert commit_messages(dev.text) == [
        "Warm the west at time 1",
        "Initial weather data",
        "Repository initialized",
    ]


def test_history_pages_with_a_cursor(shared: Shared) -> None:
    admin, sample = shared.admin, shared.sample
    first = admin.get(f"{sample.path}/history?ref=main&size=2")
    assert commit_messages(first.text) == ["Units as degK, add wind", "Warm the west at time 1"]
    older = re.search(r'href="([^"]*)" id="older-page"', first.text)
    assert older, "a page that is not the last links to the next"
    second = admin.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert commit_messages(second.text) == ["Initial weather data", "Repository initialized"]
    assert not has_id(second.text, "older-page") and has_id(second.text, "first-page")

    assert admin.get(f"{sample.path}/history?after=not-a-snapshot").status_code == 422
    assert admin.get(f"{sample.path}/history?after={'0' * 20}").status_code == 404
    assert admin.get(f"{sample.path}/history?size=0").status_code == 422
    assert admin.get(f"{sample.path}/history?ref=nope").status_code == 404


# ------------------------------------------------------------------------------------------------ who sees


def test_a_reader_sees_the_pages_without_settings_or_grants(
    service: ArraylakeService, shared: Shared
) -> None:
    org, sample = shared.org, shared.sample
    reader = web_user(service, org.name, "repo_reader", "reader")
    try:
        for suffix in ("", "/tree", "/refs", "/history"):
            page = reader.get(sample.path + suffix)
            assert page.status_code == 200, (suffix, page.text)
            assert f'href="{sample.path}/settings"' not in page.text, suffix
        overview = reader.get(sample.path)
        assert text_of(overview.text, "my-rights") == "You can read, serve it through compute services."
        assert not has_id(overview.text, "repo-grants")
        assert reader.email in text_of(overview.text, "access-roles")
    finally:
        reader.close()


def test_members_without_grants_are_refused_and_outsiders_see_nothing(
    service: ArraylakeService, shared: Shared
) -> None:
    org, sample = shared.org, shared.sample
    member = web_user(service, org.name, "member", "member")
    outsider = web_user(service, None, "admin", "outsider")
    try:
        for suffix in ("", "/tree", "/refs", "/history"):
            refused = member.get(sample.path + suffix)
            assert refused.status_code == 403, (suffix, refused.status_code)
            assert "may not read" in text_of(refused.text, "error-detail")
            hidden = outsider.get(sample.path + suffix)
            assert hidden.status_code == 404, (suffix, hidden.status_code)

        with api(org) as call:
            granted = call.post(
                f"/repos/{org.name}/{sample.name}/grants",
                json={"principal": member.email, "actions": ["CAN_READ"]},
            )
            assert granted.status_code == 200, granted.text
        page = member.get(sample.path)
        assert page.status_code == 200, page.text
        assert text_of(page.text, "my-rights") == "You can read."
        assert f'href="{sample.path}/settings"' not in page.text
        assert member.get(f"{sample.path}/tree?ref=dev").status_code == 200
    finally:
        member.close()
        outsider.close()
