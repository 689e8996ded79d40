"""What several campaigns share: a real identity provider (panva's `oidc-provider`), one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
