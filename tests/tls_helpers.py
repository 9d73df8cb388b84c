"""Charts with TLS on, for the unit, schema, policy and script tests."""

from __future__ import annotations

from typing import Any

from synth_helpers import whole_chart

import mysql_ha

TLS_ENGINE_NAMES = [name for name, engine in mysql_ha.ENGINES.items() if engine.authenticates_clone_streams]
"""Every engine that can run with TLS (MySQL 5.7 carries clones with ncat: refused)."""

CERT_MANAGER = mysql_ha.MySQLTLS.from_cert_manager(issuer_name="mysql-ca")
EXISTING_SECRET = mysql_ha.MySQLTLS.from_existing_secret(
    "mysql-tls",
    dns_names=[
        *(f"mysql-{n}.mysql" for n in range(4)),
        "*.mysql.mysql.svc.cluster.local",
        *(f"{s}{suffix}" for s in ("mysql", "mysql-read", "mysql-primary") for suffix in ("", ".mysql.svc.cluster.local")),
    ],
)


def tls_chart(engine_name: str, tls: mysql_ha.MySQLTLS = CERT_MANAGER, **props: Any) -> list[dict[str, Any]]:
    """``MySQLHAChart`` of ``engine_name`` with TLS on (cert-manager unless told)."""
    return whole_chart(mysql_ha.ENGINES[engine_name], tls=tls, **props)


def without_custom_resources(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifests that Kubernetes' own schemas describe: cert-manager's Certificate is a
    custom resource, which kubernetes-validate cannot know (it has no CRD schemas)."""
    return [m for m in manifests if not m["apiVersion"].startswith("cert-manager.io/")]
