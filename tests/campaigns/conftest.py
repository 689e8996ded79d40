"""What several campaigns share: a real identity provider (panva's `oidc-provider`) and one Chromium, each once per
module."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.apps_host import shared_browser
from tests.support.oauth import PUBLIC, OidcProvider, SigningKey


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey.rsa("idp-key-1")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Iterator[OidcProvider]:
    provider = OidcProvider(tmp_path_factory.mktemp("oidc"), [signing_key], PUBLIC).start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
async def one_chromium() -> AsyncIterator[None]:
    """One Chromium for a module's tests; each test's pages live in contexts of their own, closed after it."""
    async with shared_browser():
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A sync test cannot use the shared Chromium (an async fixture): say so at once, not on the worker it
    happens to be first on."""
    sync = [
        item.nodeid
        for item in items
        if "one_chromium" in getattr(item, "fixturenames", ())
        and not inspect.iscoroutinefunction(getattr(item, "function", None))
    ]
    if sync:
        raise pytest.UsageError(f"these tests use the shared Chromium, so they must be async: {sync}")
