from __future__ import annotations

from collections.abc import Iterator

import kt_serializers
import pytest


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Every test starts and ends with empty discovery/instance caches, so monkeypatches never leak."""
    kt_serializers.refresh_serializers()
    yield
    kt_serializers.refresh_serializers()
