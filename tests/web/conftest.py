"""Fixtures of the web app's tests: signed-in people, a repo with history, Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, launch_browser, watch, web_user, write_sample_repo


@pytest.fixture
def admin(service: ArraylakeService, org: Org) -> Iterator[WebUser]:
    """An admin of ``org``, signed in on the pages."""
    user = web_user(service, org.name, "admin", "admin")
    yield user
    user.close()


@pytest.fixture
def sample(org: Org) -> SampleRepo:
    """A repo of ``org`` with three commits, a branch and a tag."""
    return write_sample_repo(org)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    yield from launch_browser()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser context and page; fails the test if a page had a script error or a 5xx."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = watch(page)
    yield page
    context.close()
    assert not errors, f"the pages misbehaved in the browser: {errors}"
