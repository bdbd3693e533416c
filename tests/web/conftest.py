"""Fixtures of the web app's tests: signed-in people, a repo with history, Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, launch_browser, web_user, write_sample_repo


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


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one module: Playwright's synchronous API runs an event loop in this thread while it
    is open, and the tests of other modules call ``asyncio.run`` here."""
    yield from launch_browser()
