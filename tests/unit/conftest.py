"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest
from triton_stub import serve


@pytest.fixture
def triton():
    """A loopback stand-in of Triton's HTTP endpoint (triton_stub) and its base URL."""
    with serve() as (stub, base):
        yield stub, base
