"""Repo actions on the pages: create, description and metadata, status, delete; each as the policy allows."""

from __future__ import annotations

import html
import uuid

import httpx
import numpy as np
import zarr

from arraylake import Client
from tests.support.seaweed import READER_KEY, READER_SECRET, SeaweedFS
from tests.support.service import ArraylakeService, Org
from tests.support.web import WebUser, web_user


def _name(prefix: str = "repo") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _api(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=60)


def _make_repo(org: Org, name: str, **kwargs: object) -> None:
    Client(service_uri=org.url, token=org.token).create_repo(f"{org.name}/{name}", **kwargs)  # type: ignore[arg-type]


def _repo_names(org: Org) -> set[str]:
    with _api(org) as api:
        listed = api.get(f"/orgs/{org.name}/repos")
    assert listed.status_code == 200, listed.text
    return {repo["name"] for repo in listed.json()}


def test_create_a_repo_from_the_page_makes_a_real_icechunk_repo(admin: WebUser, org: Org) -> None:
    form = admin.get(f"/app/{org.name}/-/new")
    assert form.status_code == 200
    assert 'id="new-repo-form"' in form.text and 'id="repo-bucket"' in form.text
    assert "default" in form.text and "legacy" in form.text
    name = _name()
    created = admin.post(
        f"/app/{org.name}/-/new",
        {"name": name, "description": "Made on the page", "metadata": "project=era5\nlevel=10\nok=true"},
    )
    assert created.status_code == 303, created.text
    assert created.headers["location"] == f"/app/{org.name}/{name}"

    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}")
    assert found.status_code == 200, found.text
    assert found.json()["description"] == "Made on the page"
    assert found.json()["metadata"] == {"project": "era5", "level": 10, "ok": True}

    repo = Client(service_uri=org.url, token=org.token).get_repo(f"{org.name}/{name}")
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    root.create_array("x", shape=(3,), chunks=(3,), dtype="int32")[:] = [1, 2, 3]
    session.commit("first data")
    reread = Client(service_uri=org.url, token=org.token).get_repo(f"{org.name}/{name}")
    values = zarr.open_array(reread.readonly_session(branch="main").store, path="x")[:]
    assert np.array_equal(values, [1, 2, 3])


def test_create_with_a_json_object_as_metadata_in_a_named_bucket(admin: WebUser, org: Org) -> None:
    with _api(org) as api:
        nickname = api.get(f"/orgs/{org.name}/buckets").json()[0]["nickname"]
    name = _name()
    created = admin.post(
        f"/app/{org.name}/-/new",
        {"name": name, "bucket": nickname, "metadata": '{"tags": ["a", "b"], "n": 1.5}'},
    )
    assert created.status_code == 303, created.text
    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}").json()
    assert found["metadata"] == {"tags": ["a", "b"], "n": 1.5}
    assert found["bucket"]["nickname"] == nickname


def test_bad_or_taken_names_and_bad_metadata_give_the_form_again_and_create_nothing(
    admin: WebUser, org: Org
) -> None:
    taken = _name("taken")
    _make_repo(org, taken)
    before = _repo_names(org)

    again = admin.post(f"/app/{org.name}/-/new", {"name": taken, "description": "kept text"})
    assert again.status_code == 409
    assert "already exists" in again.text and 'id="new-repo-error"' in again.text
    assert 'value="kept text"' in again.text and f'value="{taken}"' in again.text

    malformed = admin.post(f"/app/{org.name}/-/new", {"name": "bad name!", "metadata": "a=1"})
    assert malformed.status_code == 422 and "repo name" in malformed.text
    assert "a=1</textarea>" in malformed.text

    fine = _name()
    for metadata, words in [
        ("no equals sign", "expected key=value"),
        ('{"a": 1', "invalid JSON"),
        ("[1, 2]", "expected key=value"),
        ("a=1\na=2", "given twice"),
        ("a={b: 1}", "must be a scalar or a list"),
    ]:
        refused = admin.post(f"/app/{org.name}/-/new", {"name": fine, "metadata": metadata})
        assert refused.status_code == 422, (metadata, refused.text)
        assert words in refused.text, (metadata, refused.text)

    unknown = admin.post(f"/app/{org.name}/-/new", {"name": fine, "bucket": "no-such-bucket"})
    assert unknown.status_code in (404, 422) and "no-such-bucket" in unknown.text
    assert _repo_names(org) == before


def test_modify_description_and_metadata(admin: WebUser, org: Org) -> None:
    name = _name()
    _make_repo(org, name, description="old", metadata={"keep": "same", "change": 1, "drop": True})
    page = admin.get(f"/app/{org.name}/{name}/settings")
    assert page.status_code == 200
    assert (
        'id="modify-form"' in page.text
        and 'id="status-form"' in page.text
        and 'id="delete-form"' in page.text
    )
    assert "keep=same" in page.text and "change=1" in page.text and "drop=true" in page.text

    saved = admin.post(
        f"/app/{org.name}/{name}/settings",
        {"description": "new words", "metadata": 'keep=same\nchange=2\nadded=[x, y]\nquoted="10"'},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/app/{org.name}/{name}/settings"
    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}").json()
    assert found["description"] == "new words"
    assert found["metadata"] == {"keep": "same", "change": 2, "added": ["x", "y"], "quoted": "10"}

    shown = admin.get(f"/app/{org.name}/{name}/settings")
    assert "Saved the description and metadata." in shown.text
    assert "quoted=&#34;10&#34;" in shown.text, "a string that reads as a number is shown quoted"

    cleared = admin.post(f"/app/{org.name}/{name}/settings", {"description": "", "metadata": ""})
    assert cleared.status_code == 303
    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}").json()
    assert found["description"] is None and not found["metadata"]

    bad = admin.post(f"/app/{org.name}/{name}/settings", {"description": "x", "metadata": "oops"})
    assert bad.status_code == 422 and "expected key=value" in bad.text
    with _api(org) as api:
        assert api.get(f"/repos/{org.name}/{name}").json()["description"] is None


def test_set_status_with_a_message(admin: WebUser, org: Org) -> None:
    name = _name()
    _make_repo(org, name)
    done = admin.post(
        f"/app/{org.name}/{name}/status", {"mode": "maintenance", "message": "Backfilling 2025"}
    )
    assert done.status_code == 303
    with _api(org) as api:
        status = api.get(f"/orgs/{org.name}/{name}/status").json()
    assert status["mode"] == "maintenance" and status["message"] == "Backfilling 2025"
    page = admin.get(f"/app/{org.name}/{name}/settings")
    assert "is now maintenance" in page.text and "Backfilling 2025" in page.text

    bad = admin.post(f"/app/{org.name}/{name}/status", {"mode": "sleeping", "message": ""})
    assert bad.status_code == 422 and "mode" in bad.text
    with _api(org) as api:
        assert api.get(f"/orgs/{org.name}/{name}/status").json()["mode"] == "maintenance"


def test_delete_asks_for_the_name_then_soft_deletes(admin: WebUser, org: Org) -> None:
    name = _name()
    _make_repo(org, name)
    page = admin.get(f"/app/{org.name}/{name}/settings")
    assert 'id="purge-date"' in page.text and "no grace period" in page.text

    for typed in ("", "wrong", name.upper()):
        refused = admin.post(f"/app/{org.name}/{name}/delete", {"confirm": typed})
        assert refused.status_code == 422 and "type its name" in refused.text
    assert name in _repo_names(org)

    deleted = admin.post(f"/app/{org.name}/{name}/delete", {"confirm": name})
    assert deleted.status_code == 303 and deleted.headers["location"] == f"/app/{org.name}"
    assert name not in _repo_names(org)
    with _api(org) as api:
        assert api.get(f"/repos/{org.name}/{name}").status_code == 404
        ghosts = api.get(f"/orgs/{org.name}/repos/paginated", params={"include_ghosts": "true"}).json()
    ghost = next(item for item in ghosts["items"] if item["name"] == name)
    assert ghost["deleted_at"] and ghost["restorable_until"] and not ghost["retain_data"]

    listed = admin.get(f"/app/{org.name}/-/deleted")
    assert listed.status_code == 200 and f'id="deleted-{name}"' in listed.text
    assert "can be restored from Deleted repos" in listed.text  # the flash, shown once

    gone = admin.post(f"/app/{org.name}/{name}/delete", {"confirm": name})
    assert gone.status_code == 404, "a deleted repo is not deleted again from its settings"


def test_delete_now_frees_the_name_at_once(admin: WebUser, org: Org) -> None:
    name = _name()
    _make_repo(org, name)
    deleted = admin.post(
        f"/app/{org.name}/{name}/delete", {"confirm": name, "immediate": "true", "retain_data": "true"}
    )
    assert deleted.status_code == 303
    assert name not in _repo_names(org)
    assert f'id="deleted-{name}"' not in admin.get(f"/app/{org.name}/-/deleted").text
    again = admin.post(f"/app/{org.name}/-/new", {"name": name})
    assert again.status_code == 303, again.text
    assert name in _repo_names(org)

    purged = admin.post(f"/app/{org.name}/{name}/delete", {"confirm": name, "immediate": "true"})
    assert purged.status_code == 303
    assert f"Deleted repo {org.name}/{name}" in admin.get(f"/app/{org.name}/-/deleted").text
    assert name not in _repo_names(org)


def test_a_repo_writer_may_change_but_not_delete(service: ArraylakeService, org: Org) -> None:
    name = _name()
    _make_repo(org, name)
    writer = web_user(service, org.name, "repo_writer", "writer")
    try:
        page = writer.get(f"/app/{org.name}/{name}/settings")
        assert page.status_code == 200
        assert 'id="modify-form"' in page.text and 'id="status-form"' in page.text
        assert 'id="delete-form"' not in page.text
        saved = writer.post(
            f"/app/{org.name}/{name}/settings", {"description": "by a writer", "metadata": ""}
        )
        assert saved.status_code == 303
        refused = writer.post(f"/app/{org.name}/{name}/delete", {"confirm": name})
        assert refused.status_code == 403 and "not allowed" in refused.text.lower()
        assert writer.get(f"/app/{org.name}/-/new").status_code == 200, "writers create repos"
    finally:
        writer.close()
    with _api(org) as api:
        assert api.get(f"/repos/{org.name}/{name}").json()["description"] == "by a writer"


def test_a_repo_reader_sees_no_settings_and_is_refused(service: ArraylakeService, org: Org) -> None:
    name = _name()
    _make_repo(org, name, description="untouched")
    reader = web_user(service, org.name, "repo_reader", "reader")
    try:
        page = reader.get(f"/app/{org.name}/{name}/settings")
        assert page.status_code == 403 and 'id="modify-form"' not in page.text
        for path, data in [
            (f"/app/{org.name}/{name}/settings", {"description": "changed", "metadata": "a=1"}),
            (f"/app/{org.name}/{name}/status", {"mode": "offline"}),
            (f"/app/{org.name}/{name}/delete", {"confirm": name}),
            (f"/app/{org.name}/-/new", {"name": _name()}),
        ]:
            refused = reader.post(path, data)
            assert refused.status_code == 403, (path, refused.text)
            assert 'id="error-detail"' in refused.text
        assert reader.get(f"/app/{org.name}/-/new").status_code == 403
    finally:
        reader.close()
    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}").json()
    assert found["description"] == "untouched" and found["status"]["mode"] == "online"


def test_an_outsider_finds_no_repo(service: ArraylakeService, org: Org) -> None:
    name = _name()
    _make_repo(org, name)
    outsider = web_user(service, None, name="outsider")
    try:
        assert outsider.get(f"/app/{org.name}/{name}/settings").status_code == 404
        assert outsider.post(f"/app/{org.name}/{name}/delete", {"confirm": name}).status_code == 404
        assert outsider.get(f"/app/{org.name}/-/new").status_code == 404
    finally:
        outsider.close()
    assert name in _repo_names(org)


def test_forms_without_their_csrf_token_are_refused(admin: WebUser, org: Org) -> None:
    name = _name()
    _make_repo(org, name, description="untouched")
    admin.get(f"/app/{org.name}/{name}/settings")
    for path, data in [
        (f"/app/{org.name}/{name}/settings", {"description": "changed"}),
        (f"/app/{org.name}/{name}/status", {"mode": "offline"}),
        (f"/app/{org.name}/{name}/delete", {"confirm": name}),
        (f"/app/{org.name}/-/new", {"name": _name()}),
    ]:
        refused = admin.http.post(path, data=data)
        assert refused.status_code == 403 and "did not come from this site" in refused.text, path
    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}").json()
    assert found["description"] == "untouched" and found["status"]["mode"] == "online"
    assert _repo_names(org) == {name}


def test_a_creation_that_storage_refuses_leaves_nothing_and_frees_the_name(
    admin: WebUser, org: Org, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    """The bucket's keys may list but not write: SeaweedFS refuses the Icechunk repository (no stand-in)."""
    client = Client(service_uri=org.url, token=org.token)
    client.create_bucket_config(
        org=org.name,
        nickname="read-only",
        **seaweed.hmac_bucket_config(s3_bucket, READER_KEY, READER_SECRET),
    )
    name = _name()
    refused = admin.post(f"/app/{org.name}/-/new", {"name": name, "bucket": "read-only"})
    assert refused.status_code == 424, refused.text
    assert "could not create the Icechunk repository in bucket config 'read-only'" in html.unescape(
        refused.text
    )
    assert READER_SECRET not in refused.text
    with _api(org) as api:
        assert api.get(f"/repos/{org.name}/{name}").status_code == 404
    assert name not in _repo_names(org)
    # the reservation was released: the name is free at once, in a bucket that works
    again = admin.post(f"/app/{org.name}/-/new", {"name": name})
    assert again.status_code == 303, again.text
