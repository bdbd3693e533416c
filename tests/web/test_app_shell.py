"""The web app's shell: the way in, the account page, sign-in redirects, headers, CSRF, errors as pages."""

from __future__ import annotations

import httpx

from tests.support.service import ArraylakeService, Org
from tests.support.web import WebUser


def test_root_sends_browsers_to_the_app_and_answers_clients_in_json(service: ArraylakeService) -> None:
    browser = httpx.get(service.url + "/", headers={"accept": "text/html,*/*;q=0.8"})
    assert browser.status_code == 303 and browser.headers["location"] == "/app"
    client = httpx.get(service.url + "/")
    assert client.status_code == 200 and "arraylake_api_version" in client.json()
    assert httpx.get(service.url + "/", headers={"accept": "application/json"}).json()["version"]


def test_pages_send_a_browser_that_is_not_signed_in_to_sign_in(service: ArraylakeService, org: Org) -> None:
    response = httpx.get(f"{service.url}/app/-/account?q=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/app/-/account%3Fq%3Dx"
    bearer = httpx.get(f"{service.url}/app/-/account", headers={"authorization": f"Bearer {org.token}"})
    assert bearer.status_code == 303, "an API token is no browser sign-in"
    htmx = httpx.get(f"{service.url}/app/-/account", headers={"hx-request": "true"})
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"].startswith("/login?next=")


def test_app_home_and_account(admin: WebUser, org: Org) -> None:
    home = admin.get("/app")
    assert home.status_code == 303 and home.headers["location"] == f"/app/{org.name}"
    page = admin.get("/app/-/account")
    assert page.status_code == 200
    assert admin.email in page.text and org.name in page.text and "admin" in page.text
    assert 'id="sign-out"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


def test_static_files_are_served_from_the_package(service: ArraylakeService) -> None:
    script = httpx.get(f"{service.url}/app/static/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:2000]
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert httpx.get(f"{service.url}/app/static/app.css").status_code == 200
    # a way out of the static directory (encoded, so that no client tidies it away first) finds nothing
    escaped = httpx.get(f"{service.url}/app/static/%2e%2e/rendering.py")
    assert escaped.status_code == 404 and "import" not in escaped.text


def test_an_error_is_a_page_in_the_policy_s_words(admin: WebUser) -> None:
    outside = admin.get("/app/no-such-org-here")
    assert outside.status_code == 404 and "org no-such-org-here not found" in outside.text
    assert outside.headers["content-type"].startswith("text/html")
    malformed = admin.get("/app/bad name!")
    assert malformed.status_code == 422 and "org name" in malformed.text


def test_a_form_without_its_csrf_token_is_refused(admin: WebUser, org: Org) -> None:
    admin.get("/app/-/account")
    refused = admin.http.post(f"/app/{org.name}/-/new", data={"name": "x1", "csrf": "forged"})
    assert refused.status_code == 403 and "did not come from this site" in refused.text
