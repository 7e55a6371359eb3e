"""The tiny pipeline every benchmark script's smoke run uses, built once per session."""

import os

import pytest

from smoke_kit import ENV, SmokeKit


@pytest.fixture(scope="session")
def smoke_kit(tmp_path_factory) -> SmokeKit:
    """:class:`smoke_kit.SmokeKit` in a session folder, exported as
    ``$STSN_SMOKE_KIT``."""
    try:
        kit = SmokeKit.build(tmp_path_factory.mktemp("smoke-kit"))
    except FileNotFoundError as err:
        pytest.skip(str(err))
    os.environ[ENV] = str(kit.root)
    return kit
