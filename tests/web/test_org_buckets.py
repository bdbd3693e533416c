"""The org's bucket configs and virtual chunk access policies on the web app's pages, on SQLite and
PostgreSQL: adding (with the connectivity check), listing without secrets, the default, deleting, who may,
and bad input refused without changing anything."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedFS
from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, web_user


def api(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=60)


def buckets_of(org: Org) -> dict[str, dict[str, Any]]:
    """The org's bucket configs through the JSON API, by nickname."""
    with api(org) as http:
        response = http.get(f"/orgs/{org.name}/buckets")
    assert response.status_code == 200, response.text
    return {b["nickname"]: b for b in response.json()}


def policies_of(org: Org) -> list[dict[str, Any]]:
    with api(org) as http:
        response = http.get(f"/orgs/{org.name}/settings/virtual-chunk-access-policies")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def page_url(org: Org) -> str:
    return f"/app/{org.name}/-/buckets"


def local_form(nickname: str, **more: object) -> dict[str, object]:
    return {"nickname": nickname, "platform": "local", "name": nickname, "auth_method": "anonymous", **more}


@pytest.fixture
def reader(service: ArraylakeService, org: Org) -> Any:
    user = web_user(service, org.name, "repo_reader", "reader")
    yield user
    user.close()


def test_admin_adds_a_local_bucket_and_checks_it(admin: WebUser, org: Org) -> None:
    page = admin.get(page_url(org))
    assert page.status_code == 200, page.text
    assert 'id="bucket-local"' in page.text and 'id="default-badge"' in page.text
    assert 'id="create-bucket"' in page.text and 'id="bucket-check" checked' in page.text

    made = admin.post(page_url(org), local_form("archive", prefix="cold", check_connectivity="true"))
    assert made.status_code == 201, made.text
    assert 'id="check-report"' in made.text
    assert 'id="check-result">ok<' in made.text
    assert made.text.count('class="check-step"') >= 3 and ">failed<" not in made.text
    assert 'id="bucket-archive"' in made.text and "Created bucket config archive." in made.text
    archive = buckets_of(org)["archive"]
    assert (archive["platform"], archive["prefix"], archive["is_default"]) == ("local", "cold", False)

    # checking it again from its row: the same report
    again = admin.post(f"{page_url(org)}/{archive['id']}/check")
    assert again.status_code == 200 and 'id="check-result">ok<' in again.text
    fragment = admin.post(f"{page_url(org)}/{archive['id']}/check", headers={"hx-request": "true"})
    assert fragment.status_code == 200 and 'id="check-report"' in fragment.text
    assert "<html" not in fragment.text


def test_an_s3_bucket_with_hmac_keys_never_shows_its_secret(
    admin: WebUser, org: Org, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    form = {
        "nickname": "weedy",
        "platform": "s3-compatible",
        "name": s3_bucket,
        "prefix": "data",
        "endpoint_url": seaweed.endpoint,
        "region_name": seaweed.region,
        "allow_http": "true",
        "force_path_style": "true",
        "auth_method": "hmac",
        "access_key_id": ADMIN_KEY,
        "secret_access_key": ADMIN_SECRET,
        "check_connectivity": "true",
    }
    made = admin.post(page_url(org), form)
    assert made.status_code == 201, made.text
    assert 'id="check-result">ok<' in made.text, made.text
    assert ADMIN_SECRET not in made.text
    listed = admin.get(page_url(org))
    assert 'id="bucket-weedy"' in listed.text and ADMIN_KEY in listed.text and seaweed.endpoint in listed.text
    assert ADMIN_SECRET not in listed.text and "secret hidden" in listed.text
    assert ADMIN_SECRET not in admin.get(f"/app/{org.name}/-/virtual-chunks").text
    weedy = buckets_of(org)["weedy"]
    assert weedy["extra_config"]["endpoint_url"] == seaweed.endpoint
    assert weedy["extra_config"]["use_ssl"] is False and weedy["auth_config"]["method"] == "hmac"

    # a refused creation shows the domain's words and the form again, without the secret
    twice = admin.post(page_url(org), form)
    assert twice.status_code == 409, twice.text
    assert "a bucket config named &#39;weedy&#39; already exists" in twice.text
    assert 'id="create-error"' in twice.text and f'value="{s3_bucket}"' in twice.text
    assert ADMIN_SECRET not in twice.text
    assert len([b for b in buckets_of(org) if b == "weedy"]) == 1


def test_default_and_delete(admin: WebUser, org: Org, sample: SampleRepo) -> None:
    for nickname in ("spare", "extra"):
        made = admin.post(page_url(org), local_form(nickname))
        assert made.status_code == 303 and made.headers["location"] == page_url(org)
    listed = admin.get(page_url(org))
    assert "Created bucket config extra." in listed.text
    assert "1 repo: " + sample.name in listed.text  # the default bucket holds the sample repo
    found = buckets_of(org)

    made_default = admin.post(f"{page_url(org)}/{found['spare']['id']}/default")
    assert made_default.status_code == 303
    assert "spare is now the default" in admin.get(page_url(org)).text
    found = buckets_of(org)
    assert found["spare"]["is_default"] and not found["local"]["is_default"]

    unconfirmed = admin.post(f"{page_url(org)}/{found['extra']['id']}/delete")
    assert unconfirmed.status_code == 422 and "I understand" in unconfirmed.text
    assert "extra" in buckets_of(org)
    deleted = admin.post(f"{page_url(org)}/{found['extra']['id']}/delete", {"confirm": "true"})
    assert deleted.status_code == 303
    assert "Deleted bucket config extra" in admin.get(page_url(org)).text
    assert "extra" not in buckets_of(org)

    in_use = admin.post(f"{page_url(org)}/{found['local']['id']}/delete", {"confirm": "true"})
    assert in_use.status_code == 409, in_use.text
    assert f"is used by repos {sample.name}: cannot delete it" in in_use.text
    assert "local" in buckets_of(org)


def test_a_reader_sees_the_list_without_controls_and_is_refused(
    reader: WebUser, service: ArraylakeService, org: Org
) -> None:
    page = reader.get(page_url(org))
    assert page.status_code == 200 and 'id="bucket-local"' in page.text
    for control in ('id="create-bucket"', 'id="delete-local"', 'id="check-local"', "/default"):
        assert control not in page.text
    local = buckets_of(org)["local"]
    assert reader.post(page_url(org), local_form("sneaky")).status_code == 403
    assert reader.post(f"{page_url(org)}/{local['id']}/delete", {"confirm": "true"}).status_code == 403
    assert reader.post(f"{page_url(org)}/{local['id']}/check").status_code == 403
    assert "sneaky" not in buckets_of(org) and "local" in buckets_of(org)

    vc = reader.get(f"/app/{org.name}/-/virtual-chunks")
    assert vc.status_code == 200 and 'id="add-policy"' not in vc.text
    refused = reader.post(f"/app/{org.name}/-/virtual-chunks", {"bucket_id": local["id"]})
    assert refused.status_code == 403 and policies_of(org) == []

    member = web_user(service, org.name, "member", "member")
    try:
        assert member.get(page_url(org)).status_code == 403
        assert member.get(f"/app/{org.name}/-/virtual-chunks").status_code == 403
    finally:
        member.close()
    stranger = web_user(service, None, "admin", "stranger")
    try:
        assert stranger.get(page_url(org)).status_code == 404
    finally:
        stranger.close()


def test_bad_input_changes_nothing(admin: WebUser, org: Org) -> None:
    before = set(buckets_of(org))
    nameless = admin.post(page_url(org), local_form("", name="somewhere"))
    assert nameless.status_code == 422 and "give the bucket config a nickname" in nameless.text
    assert 'value="somewhere"' in nameless.text  # the form keeps what was typed
    odd = admin.post(page_url(org), {**local_form("odd"), "platform": "ftp"})
    assert odd.status_code == 422 and "unknown platform &#39;ftp&#39;" in odd.text
    s3 = admin.post(page_url(org), {**local_form("nowhere"), "platform": "s3"})
    assert s3.status_code == 422 and "s3 buckets need extra_config region_name" in s3.text
    local_keys = admin.post(
        page_url(org), local_form("keyed", auth_method="hmac", access_key_id="a", secret_access_key="hush-1")
    )
    assert local_keys.status_code == 422 and "hush-1" not in local_keys.text
    escape = admin.post(page_url(org), local_form("escape", prefix="../../other"))
    assert escape.status_code == 422
    assert admin.post(f"{page_url(org)}/not-a-uuid/default").status_code == 422
    assert set(buckets_of(org)) == before

    no_csrf = admin.http.post(page_url(org), data=local_form("forged"))
    assert no_csrf.status_code == 403
    assert set(buckets_of(org)) == before


def test_virtual_chunk_policies(admin: WebUser, org: Org) -> None:
    url = f"/app/{org.name}/-/virtual-chunks"
    empty = admin.get(url)
    assert empty.status_code == 200 and 'id="no-policies"' in empty.text and 'id="add-policy"' in empty.text
    local = buckets_of(org)["local"]

    added = admin.post(url, {"bucket_id": local["id"], "subprefix": "refs"})
    assert added.status_code == 303, added.text
    [policy] = policies_of(org)
    assert (policy["subprefix"], policy["public"]) == ("refs", False)
    page = admin.get(url)
    assert "may read virtual chunks under" in page.text
    assert policy["url_prefix"] in page.text and "private: credentials vended" in page.text

    with api(org) as http:  # HMAC keys cannot be narrowed: only public
        made = http.post(
            f"/orgs/{org.name}/buckets",
            json={
                "nickname": "keyed",
                "platform": "s3-compatible",
                "name": "keyed-bucket",
                "extra_config": {"endpoint_url": "http://127.0.0.1:9"},
                "auth_config": {"method": "hmac", "access_key_id": "k", "secret_access_key": "s-123"},
            },
        )
    assert made.status_code == 201, made.text
    keyed = made.json()["id"]
    private = admin.post(url, {"bucket_id": keyed})
    assert private.status_code == 422 and "uses HMAC keys" in private.text
    public = admin.post(url, {"bucket_id": keyed, "public": "true"})
    assert public.status_code == 303
    assert "public: anonymous reads" in admin.get(url).text
    assert len(policies_of(org)) == 2
    assert admin.post(url, {"bucket_id": "not-a-uuid"}).status_code == 422

    unconfirmed = admin.post(f"{url}/delete", {"bucket_id": local["id"], "subprefix": "refs"})
    assert unconfirmed.status_code == 422 and len(policies_of(org)) == 2
    gone = admin.post(f"{url}/delete", {"bucket_id": local["id"], "subprefix": "refs", "confirm": "true"})
    assert gone.status_code == 303
    assert [p["bucket_id"] for p in policies_of(org)] == [keyed]
    again = admin.post(f"{url}/delete", {"bucket_id": local["id"], "subprefix": "refs", "confirm": "true"})
    assert again.status_code == 404 and "no such virtual chunk access policy" in again.text
