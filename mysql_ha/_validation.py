"""Input checks shared by the constructs. Each raises one ``ValueError`` that
names the prop, the bad value and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    None: Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def dns_label(prop: str, value: object) -> str:
    """A DNS-1123 label (Service, StatefulSet and Namespace names): 1-63 chars."""
    if not isinstance(value, str) or len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{prop} must be a DNS-1123 label (lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most 63 characters), got {value!r}"
        )
    return value


def dns_subdomain(prop: str, value: object) -> str:
    """A DNS-1123 subdomain (ConfigMap, Secret, PV and StorageClass names): 1-253 chars."""
    if not isinstance(value, str) or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"{prop} must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', "
            f"at most 253 characters), got {value!r}"
        )
    return value


def quantity(prop: str, value: object) -> Decimal:
    """Parses a Kubernetes quantity ('15Gi', '500m', '1.5G') into its plain value."""
    match = _QUANTITY.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(
            f"{prop} must be a Kubernetes quantity such as '3Gi', '500Mi' or '500m' "
            f"(a number with an optional suffix m, k, M, G, T, Ki, Mi, Gi, Ti), got {value!r}"
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{prop} is not a number: {value!r}") from None
    amount = number * _SUFFIX[match["suffix"]]
    if amount <= 0:
        raise ValueError(f"{prop} must be greater than zero, got {value!r}")
    return amount


def int_range(prop: str, value: object, low: int, high: int, why: str = "") -> int:
    """An int in [low, high]; ``why`` explains the bound in the message."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{prop} must be an integer between {low} and {high}{reason}, got {value!r}")
    return value


def one_of(prop: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{prop} must be one of {', '.join(allowed)}, got {value!r}")
    return value  # type: ignore[return-value]


def unique_nonempty(prop: str, values: object, what: str) -> tuple[str, ...]:
    """A non-empty list of distinct, non-empty strings."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(f"{prop} must be a list of {what}, got {values!r}")
    items = tuple(values)
    if not items:
        raise ValueError(f"{prop} must name at least one {what}, got an empty list")
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{prop} must contain non-empty strings ({what}), got {item!r}")
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"{prop} must not repeat a {what}, got {', '.join(map(repr, duplicates))} twice")
    return items
