"""Memory quantities as the emulator's memory cgroups read them (``tests/emulator/memory.py``);
``tests/e2e/test_emulator_backoff.py`` OOM-kills a container over its limit for real."""

from __future__ import annotations

import pytest

from emulator import EmulatorError
from emulator.memory import memory_limit, quantity_bytes


@pytest.mark.parametrize(("quantity", "expected"), [
    ("512Mi", 512 << 20), ("1Gi", 1 << 30), ("1.5Gi", 3 << 29), ("128974848", 128974848), ("129e6", 129_000_000),
    ("128M", 128_000_000), ("2k", 2000), (1024, 1024), ("1500m", 2),
])
def test_quantities_in_bytes(quantity, expected):
    assert quantity_bytes(quantity) == expected


@pytest.mark.parametrize("quantity", ["", "12 Mi", "Mi", "1Zi", "-1Gi"])
def test_what_is_no_quantity_is_refused(quantity):
    with pytest.raises(EmulatorError, match="not a quantity"):
        quantity_bytes(quantity)


def test_the_limit_comes_from_resources_limits_memory_alone():
    assert memory_limit({"resources": {"limits": {"memory": "64Mi"}, "requests": {"memory": "1Gi"}}}) == 64 << 20
    assert memory_limit({"resources": {"requests": {"memory": "1Gi"}}}) is None
    assert memory_limit({}) is None
