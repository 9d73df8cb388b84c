"""MySQLTLS: where the pods' certificate comes from, and the names it must hold.

With TLS on, every pod mounts one Secret of the usual ``kubernetes.io/tls`` shape
(``tls.crt``, ``tls.key`` and ``ca.crt``) at ``TLS_DIR``. The same certificate serves
three purposes: the server presents it to clients and replicas; a replica checks the
primary's against ``ca.crt`` and its host name; and the clone stream of backup-stream
engines (port 3307) is mutual TLS: the donor hands a backup only to a peer presenting a
certificate signed by the set's CA. The certificate therefore needs both the ``server
auth`` and the ``client auth`` usage (or no extended key usage at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cdk8s
from constructs import Construct

from . import _validation as check

TLS_DIR = "/etc/mysql-ha/tls"
"""Where every container of the set that talks to a server or a clone stream mounts the Secret."""
CERT_KEY = "tls.crt"
KEY_KEY = "tls.key"
CA_KEY = "ca.crt"
ISSUER_KINDS = ("Issuer", "ClusterIssuer")
CERTIFICATE_USAGES = ("server auth", "client auth", "digital signature", "key encipherment")


def tls_paths() -> dict[str, str]:
    """The ``@CA@``, ``@CERT@`` and ``@KEY@`` values of the engine table's TLS templates."""
    return {"CA": f"{TLS_DIR}/{CA_KEY}", "CERT": f"{TLS_DIR}/{CERT_KEY}", "KEY": f"{TLS_DIR}/{KEY_KEY}"}


@dataclass(frozen=True, kw_only=True)
class MySQLTLS:
    """The certificate of the set: issued by cert-manager, or an existing Secret.

    Build it with ``from_cert_manager`` (``ReplicatedMySQL`` then creates a cert-manager
    ``Certificate`` for every pod and Service name; cert-manager renews it and the pods
    pick the renewed Secret up) or ``from_existing_secret`` (a Secret with ``tls.crt``,
    ``tls.key`` and ``ca.crt`` made outside this library; its DNS names are declared here
    and checked at synth time against the pods and Services).
    """

    secret_name: str | None = None
    """The existing Secret, or the Secret cert-manager writes (defaults to ``{name}-tls``)."""
    issuer_name: str | None = None
    """cert-manager issuer of the certificate; ``None`` for an existing Secret."""
    issuer_kind: str = "Issuer"
    dns_names: tuple[str, ...] = ()
    """Existing Secret: the names its certificate holds. cert-manager: names added to the
    pods' and Services' own."""
    duration_hours: int = 2160
    renew_before_hours: int = 360

    def __post_init__(self) -> None:
        if self.issuer_name is None and self.secret_name is None:
            raise ValueError(
                "TLS needs a certificate source: MySQLTLS.from_cert_manager(issuer_name=...) or "
                "MySQLTLS.from_existing_secret(secret_name, dns_names=[...]), got neither"
            )
        if self.secret_name is not None:
            check.dns_subdomain("secret_name", self.secret_name)
        names = self.dns_names
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise ValueError(f"dns_names must be a list of DNS names, got {names!r}")
        object.__setattr__(self, "dns_names", tuple(dns_name("dns_names", name) for name in names))
        if self.issuer_name is None:
            if not self.dns_names:
                raise ValueError(
                    f"dns_names must list the names that the certificate in Secret {self.secret_name!r} "
                    "holds (checked against every pod and Service at synth time), got none"
                )
            return
        check.dns_subdomain("issuer_name", self.issuer_name)
        check.one_of("issuer_kind", self.issuer_kind, ISSUER_KINDS)
        check.int_range("duration_hours", self.duration_hours, 1, 24 * 3650)
        check.int_range(
            "renew_before_hours", self.renew_before_hours, 1, self.duration_hours - 1,
            f"renewal must start before the certificate's duration of {self.duration_hours} hours ends",
        )

    @classmethod
    def from_cert_manager(
        cls,
        *,
        issuer_name: str,
        issuer_kind: str = "Issuer",
        secret_name: str | None = None,
        extra_dns_names: Sequence[str] = (),
        duration_hours: int = 2160,
        renew_before_hours: int = 360,
    ) -> MySQLTLS:
        """A cert-manager ``Certificate`` for every pod and Service of the set.

        :param issuer_name: the ``Issuer`` (same namespace) or ``ClusterIssuer`` that signs it.
            Use a CA issuer: its Secret then carries the ``ca.crt`` that the pods check peers with.
        :param issuer_kind: ``Issuer`` or ``ClusterIssuer``. Defaults to ``Issuer``.
        :param secret_name: the Secret cert-manager writes. Defaults to ``{name}-tls``.
        :param extra_dns_names: names added to the pods' and Services' (e.g. a load
            balancer's). Defaults to none.
        :param duration_hours: lifetime of each certificate. Defaults to 2160 (90 days).
        :param renew_before_hours: renewal starts this long before expiry. Defaults to 360 (15 days).
        """
        return cls(
            issuer_name=issuer_name,
            issuer_kind=issuer_kind,
            secret_name=secret_name,
            dns_names=tuple(extra_dns_names) if not isinstance(extra_dns_names, str) else extra_dns_names,
            duration_hours=duration_hours,
            renew_before_hours=renew_before_hours,
        )

    @classmethod
    def from_existing_secret(cls, secret_name: str, *, dns_names: Sequence[str]) -> MySQLTLS:
        """A Secret with ``tls.crt``, ``tls.key`` and ``ca.crt``, created outside this library.

        :param secret_name: the Secret (in the set's namespace).
        :param dns_names: the DNS names its certificate holds (wildcards allowed). Required:
            synthesis fails when they miss a pod or a Service, instead of the replicas
            failing their host-name check at run time.
        """
        return cls(secret_name=secret_name,
                   dns_names=tuple(dns_names) if not isinstance(dns_names, str) else dns_names)

    @property
    def uses_cert_manager(self) -> bool:
        return self.issuer_name is not None

    def secret_for(self, set_name: str) -> str:
        """Name of the Secret the pods mount."""
        return self.secret_name or f"{set_name}-tls"


def dns_name(prop: str, value: object) -> str:
    """A lower-case DNS name; a wildcard only as the whole first label."""
    rest = value[2:] if isinstance(value, str) and value.startswith("*.") else value
    try:
        check.dns_subdomain(prop, rest)
    except ValueError:
        raise ValueError(
            f"{prop} must hold DNS names (lower-case letters, digits, '-' and '.', a '*.' wildcard "
            f"only in front), got {value!r}"
        ) from None
    return value  # type: ignore[return-value]


def covers(pattern: str, name: str) -> bool:
    """Whether a certificate name matches a host name the way OpenSSL checks it: a
    wildcard stands for exactly one label and needs two dots after it (``*.mysql`` matches
    nothing)."""
    if pattern == name:
        return True
    if not pattern.startswith("*.") or pattern.count(".") < 2:
        return False
    head, _, tail = name.partition(".")
    return bool(head) and tail == pattern[2:]


def service_names(service: str, namespace: str | None) -> list[str]:
    """Every name under which a client reaches a Service."""
    if namespace is None:
        return [service]
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def required_names(pods: Sequence[str], headless: str, services: Sequence[str], namespace: str | None) -> list[str]:
    """The names a certificate must hold: each pod as the set's scripts reach it
    (``{pod}.{headless}``: replication and clones check it) and by its full name, each
    Service by its short and full name."""
    names = []
    for pod in pods:
        names.append(f"{pod}.{headless}")
        if namespace is not None:
            names.append(f"{pod}.{headless}.{namespace}.svc.cluster.local")
    for service in services:
        names.append(service)
        if namespace is not None:
            names.append(f"{service}.{namespace}.svc.cluster.local")
    return names


def certificate_names(pods: Sequence[str], headless: str, services: Sequence[str], namespace: str | None,
                      extra: Sequence[str]) -> list[str]:
    """What the cert-manager Certificate lists: the short pod names one by one (a wildcard
    cannot stand for them), wildcards for the pods' longer names, every Service name."""
    names = [f"{pod}.{headless}" for pod in pods]
    if namespace is not None:
        names += [f"*.{headless}.{namespace}", f"*.{headless}.{namespace}.svc",
                  f"*.{headless}.{namespace}.svc.cluster.local"]
    for service in services:
        names += service_names(service, namespace)
    return list(dict.fromkeys([*names, *extra]))


def check_covers(prop: str, names: Sequence[str], required: Sequence[str], secret: str) -> None:
    missing = [name for name in required if not any(covers(pattern, name) for pattern in names)]
    if missing:
        raise ValueError(
            f"{prop} of the certificate in Secret {secret!r} must cover every pod and Service of the set; "
            f"missing: {', '.join(missing)} (got {', '.join(names)})"
        )


def certificate(scope: Construct, id: str, *, tls: MySQLTLS, set_name: str, dns_names: Sequence[str],
                labels: dict[str, str]) -> cdk8s.ApiObject:
    """The cert-manager ``Certificate``, named like the Secret it writes (a custom resource:
    a plain ``ApiObject``, no CRD import)."""
    name = tls.secret_for(set_name)
    api_object = cdk8s.ApiObject(
        scope,
        id,
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata=cdk8s.ApiObjectMetadata(name=name, labels=labels),
    )
    api_object.add_json_patch(cdk8s.JsonPatch.add("/spec", {
            "secretName": name,
            "issuerRef": {"name": tls.issuer_name, "kind": tls.issuer_kind, "group": "cert-manager.io"},
            "dnsNames": list(dns_names),
            "duration": f"{tls.duration_hours}h",
            "renewBefore": f"{tls.renew_before_hours}h",
            # A new key at each renewal; RSA for the oldest clients (MySQL 5.7's).
            "privateKey": {"algorithm": "RSA", "size": 2048, "rotationPolicy": "Always"},
            "usages": list(CERTIFICATE_USAGES),
        }))
    return api_object
