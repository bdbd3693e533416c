"""The repo's compare page: what changed between two snapshots, and heat maps of the changed chunks."""

from __future__ import annotations

import html
import re

import numpy as np
import zarr

from arraylake import Client
from arraylake.server.browse.diff import chunk_heat, field_changes
from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, web_user

TEMPERATURE = "d0-chunks-weather--temperature"


def figure(page: str, dom_id: str) -> str:
    """The ``<figure>`` of a heat map, by id."""
    found = re.search(rf'<figure class="heat" id="{re.escape(dom_id)}">(.*?)</figure>', page, re.S)
    assert found, f"no heat map {dom_id}"
    return found.group(1)


def changed_titles(svg: str) -> list[str]:
    return re.findall(r'<rect class="changed"[^>]*><title>([^<]*)</title></rect>', svg)


def section(page: str, dom_id: str) -> str:
    found = re.search(rf'<section class="card" id="{re.escape(dom_id)}">(.*?)</section>', page, re.S)
    assert found, f"no section {dom_id}"
    return html.unescape(found.group(1))


# ------------------------------------------------------------------------------------------- heat maps


def test_heat_map_of_a_3d_grid_has_one_map_per_changed_leading_index() -> None:
    heat = chunk_heat("/t", (4, 2, 4), [[1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1], [3, 1, 3]])
    assert (heat.changed_count, heat.total_chunks, heat.rows, heat.cols) == (5, 32, 2, 4)
    assert [m.leading for m in heat.maps] == [(1,), (3,)] and [m.changed for m in heat.maps] == [4, 1]
    assert [c.title for c in heat.maps[1].cells] == ["chunk (3, 1, 3)"]
    assert heat.overall is not None and len(heat.overall.cells) == 5
    assert heat.overall.cells[0].title == "chunk (*, 0, 0)"
    assert heat.leading_counts == [((1,), 4), ((3,), 1)] and not heat.downsampled
    assert round(heat.percent, 2) == 15.62


def test_heat_map_of_a_large_grid_is_downsampled_into_blocks() -> None:
    heat = chunk_heat("/big", (500, 1000), [[0, 0], [1, 1], [2, 4], [250, 5], [499, 999]], max_side=200)
    assert heat.block == (3, 5) and (heat.map_rows, heat.map_cols) == (167, 200) and heat.downsampled
    cells = heat.maps[0].cells
    assert [(c.row, c.col) for c in cells] == [(0, 0), (83, 1), (166, 199)], (
        "a block is changed if any chunk is"
    )
    assert cells[0].title == "chunks (0-2, 0-4)" and cells[2].title == "chunks (498-499, 995-999)"
    assert heat.changed_count == 5 and heat.total_chunks == 500_000


def test_heat_map_limits_the_number_of_maps_and_guesses_a_missing_grid() -> None:
    coords = [[t, 0, 0] for t in range(20)]
    heat = chunk_heat("/t", (20, 1, 1), coords, max_maps=12)
    assert len(heat.maps) == 12 and heat.more_maps == 8 and len(heat.leading_counts) == 20
    guessed = chunk_heat("/g", None, [[2, 3], [0, 1]])
    assert guessed.grid == (3, 4) and not guessed.grid_known and guessed.changed_count == 2
    line = chunk_heat("/s", (5,), [[2], [9]])
    assert (line.rows, line.cols, line.changed_count) == (1, 5, 1), "chunks outside the grid are left out"
    assert line.maps[0].cells[0].title == "chunk (2)"


def test_field_changes_say_what_was_added_removed_and_changed() -> None:
    changes = field_changes(
        {"units": "K", "gone": 1, "same": [1, 2]}, {"units": "degK", "new": True, "same": [1, 2]}
    )
    assert [(c.key, c.kind, c.old, c.new) for c in changes] == [
        ("gone", "removed", "1", None),
        ("new", "added", None, "true"),
        ("units", "changed", '"K"', '"degK"'),
    ]


# ------------------------------------------------------------------------------------------- the page


def test_changed_chunks_of_the_rewrite(admin: WebUser, sample: SampleRepo) -> None:
    first, second, _third = sample.snapshots
    page = admin.get(f"{sample.path}/diff", params={"from": first, "to": second})
    assert page.status_code == 200, page.text
    assert 'aria-current="page">Compare' in page.text
    text = section(page.text, TEMPERATURE)
    assert "4 of 32 chunks changed" in text and "12.5%" in text and "4 \u00d7 2 \u00d7 4" in text
    titles = changed_titles(figure(page.text, f"{TEMPERATURE}-map-1"))
    assert sorted(titles) == ["chunk (1, 0, 0)", "chunk (1, 0, 1)", "chunk (1, 1, 0)", "chunk (1, 1, 1)"]
    assert page.text.count('<figure class="heat"') == 1, "only time index 1 changed, no other map"
    assert (
        f'href="/app/{sample.org}/{sample.name}/tree?ref={second}&amp;path=weather/temperature"' in page.text
    )
    assert (
        f'href="/app/{sample.org}/{sample.name}/data?ref={second}&amp;path=weather/temperature"' in page.text
    )
    assert "weather/wind" not in page.text and "d0-meta" not in page.text
    assert 'style="' not in page.text and "<script>" not in page.text, "the CSP allows neither"


def test_metadata_changes_and_new_array(admin: WebUser, sample: SampleRepo) -> None:
    _first, second, third = sample.snapshots
    page = admin.get(f"{sample.path}/diff", params={"from": second, "to": third})
    assert page.status_code == 200, page.text
    attributes = section(page.text, "d0-meta-weather--temperature")
    assert re.search(
        r'<code>units</code>.*?changed.*?<code>"K"</code>.*?<code>"degK"</code>', attributes, re.S
    )
    new_arrays = re.search(r'<ul id="d0-new-arrays">(.*?)</ul>', page.text, re.S)
    assert new_arrays and "/weather/wind" in new_arrays.group(1)
    wind = section(page.text, "d0-chunks-weather--wind")
    assert (
        "2 of 2 chunks changed" in wind
        and len(changed_titles(figure(page.text, "d0-chunks-weather--wind-map-all"))) == 2
    )


def test_default_from_is_the_parent_of_to_and_to_defaults_to_main(admin: WebUser, sample: SampleRepo) -> None:
    page = admin.get(f"{sample.path}/diff")
    assert page.status_code == 200, page.text
    assert 'id="diff-defaulted"' in page.text and sample.snapshots[1] in page.text
    assert 'id="d0-new-arrays"' in page.text and "/weather/wind" in page.text
    dev = admin.get(f"{sample.path}/diff", params={"to": "dev", "from": ""})
    assert dev.status_code == 200 and section(dev.text, TEMPERATURE), "dev's parent is the first commit"


def test_reversed_order_is_swapped_and_said(admin: WebUser, sample: SampleRepo) -> None:
    first, second, _third = sample.snapshots
    page = admin.get(f"{sample.path}/diff", params={"from": second, "to": first})
    assert page.status_code == 200, page.text
    assert 'id="diff-swapped"' in page.text and "were swapped" in page.text
    assert "4 of 32 chunks changed" in section(page.text, TEMPERATURE)
    assert len(changed_titles(figure(page.text, f"{TEMPERATURE}-map-1"))) == 4
    swapped_by_htmx = admin.get(
        f"{sample.path}/diff", params={"from": second, "to": first}, headers={"hx-request": "true"}
    )
    assert swapped_by_htmx.status_code == 200 and 'id="diff-result"' in swapped_by_htmx.text
    assert 'hx-select="#diff-result"' in page.text


def test_tags_and_branches_and_diverged_lines(admin: WebUser, sample: SampleRepo, org: Org) -> None:
    page = admin.get(f"{sample.path}/diff", params={"from": "v1", "to": "dev"})
    assert page.status_code == 200, page.text
    assert "Changes from v1 to dev" in page.text and "4 of 32 chunks changed" in section(
        page.text, TEMPERATURE
    )

    repo = Client(service_uri=org.url, token=org.token).get_repo(f"{org.name}/{sample.name}")
    session = repo.writable_session("dev")
    station = zarr.open_array(session.store, path="weather/station")
    station[:10] = np.zeros(10)
    session.commit("Zero the first stations on dev")
    diverged = admin.get(f"{sample.path}/diff", params={"from": "dev", "to": "main"})
    assert diverged.status_code == 200, diverged.text
    assert (
        "different lines of history" in diverged.text
        and f"<code>{sample.snapshots[1]}</code>" in diverged.text
    )
    dev_side = section(diverged.text, "d0-chunks-weather--station")
    assert "1 of 5 chunks changed" in dev_side
    assert changed_titles(figure(diverged.text, "d0-chunks-weather--station-map-all")) == ["chunk (0)"]
    assert "/weather/wind" in re.search(r'<ul id="d1-new-arrays">(.*?)</ul>', diverged.text, re.S).group(1)  # type: ignore[union-attr]


def test_moved_nodes_are_listed(admin: WebUser, sample: SampleRepo, org: Org) -> None:
    repo = Client(service_uri=org.url, token=org.token).get_repo(f"{org.name}/{sample.name}")
    repo.create_branch("moves", sample.snapshots[2])
    session = repo.rearrange_session("moves")
    session.move("/weather/wind", "/weather/wind10m")
    session.commit("Rename wind")
    page = admin.get(f"{sample.path}/diff", params={"from": "main", "to": "moves"})
    assert page.status_code == 200, page.text
    moved = re.search(r'<table id="d0-moved">(.*?)</table>', page.text, re.S)
    assert (
        moved and "<code>/weather/wind</code>" in moved.group(1) and "/weather/wind10m</a>" in moved.group(1)
    )
    assert '<figure class="heat"' not in page.text, "a move rewrites no chunk"


def test_same_snapshot_says_no_changes(admin: WebUser, sample: SampleRepo) -> None:
    page = admin.get(f"{sample.path}/diff", params={"from": "main", "to": sample.snapshots[2]})
    assert page.status_code == 200, page.text
    assert 'id="no-changes"' in page.text and "No changes" in page.text
    assert '<figure class="heat"' not in page.text


def test_unknown_and_malformed_refs(admin: WebUser, sample: SampleRepo) -> None:
    unknown = admin.get(f"{sample.path}/diff", params={"from": "no-such-branch", "to": "main"})
    assert unknown.status_code == 404 and "no-such-branch" in html.unescape(unknown.text)
    assert 'id="error-detail"' in unknown.text
    missing = admin.get(f"{sample.path}/diff", params={"to": "A" * 20})
    assert missing.status_code == 404
    malformed = admin.get(f"{sample.path}/diff", params={"from": "bad\x01ref"})
    assert malformed.status_code == 422 and "ref" in malformed.text
    too_long = admin.get(f"{sample.path}/diff", params={"to": "x" * 300})
    assert too_long.status_code == 422


def test_a_reader_may_compare_and_an_outsider_may_not(
    service: ArraylakeService, org: Org, sample: SampleRepo
) -> None:
    first, second, _third = sample.snapshots
    reader = web_user(service, org.name, "repo_reader", "reader")
    outsider = web_user(service, None, "admin", "outsider")
    try:
        page = reader.get(f"{sample.path}/diff", params={"from": first, "to": second})
        assert page.status_code == 200 and "4 of 32 chunks changed" in section(page.text, TEMPERATURE)
        assert f'href="/app/{sample.org}/{sample.name}/settings"' not in page.text
        refused = outsider.get(f"{sample.path}/diff", params={"from": first, "to": second})
        assert refused.status_code == 404 and "4 of 32" not in refused.text
    finally:
        reader.close()
        outsider.close()
