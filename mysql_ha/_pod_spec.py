"""The checked pieces of ReplicatedMySQL's pod template and policy: the declared primary
and semi-sync settings, resources, affinity, NetworkPolicy rules, labels and images. Each
check raises one ``ValueError`` naming the prop, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping

from cdk8s_plus_27 import k8s

from . import _validation as check


def topology(engine, replicas: int, primary_ordinal: int, semi_sync: bool | None, acknowledgements: int,
              timeout_seconds: int) -> tuple[int, dict[str, str]]:
    """The declared primary and the semi-sync settings, checked against the engine and the set."""
    check.int_range("primary_ordinal", primary_ordinal, 0, replicas - 1, f"a pod of the {replicas}-pod set")
    if primary_ordinal != 0 and not engine.supports_switchover:
        raise ValueError(
            f"primary_ordinal must be 0 for engine {engine.name}: its replicas are positioned by binary log "
            f"file and offset, so no other pod can take over, got {primary_ordinal}"
        )
    if semi_sync is None:
        semi_sync = replicas >= 2 and engine.supports_semi_sync
    if not isinstance(semi_sync, bool):
        raise ValueError(f"semi_sync must be True, False or None (on when the set has a replica), got {semi_sync!r}")
    check.int_range("semi_sync_timeout_seconds", timeout_seconds, 1, 86400)
    if not semi_sync:
        return primary_ordinal, {}
    if not engine.supports_semi_sync:
        raise ValueError(f"semi_sync=True is not offered for engine {engine.name}; choose MySQL 8.4/9.7 or MariaDB")
    if replicas < 2:
        raise ValueError("semi_sync=True needs a replica to acknowledge commits: replicas must be at least 2, "
                         f"got {replicas}")
    check.int_range("semi_sync_acknowledgements", acknowledgements, 1, replicas - 1,
                    f"at most the {replicas - 1} replica(s) besides the primary")
    return primary_ordinal, engine.semi_sync_config(acknowledgements=acknowledgements,
                                                    timeout_ms=timeout_seconds * 1000)


def semi_sync_cnf(settings: Mapping[str, str]) -> str:
    if not settings:
        return "# Semi-synchronous replication is off: commits do not wait for replicas.\n[mysqld]\n"
    lines = ["# Semi-synchronous replication, on every pod: any pod may be the primary.", "[mysqld]"]
    return "\n".join([*lines, *(f"{key}={value}" for key, value in settings.items())]) + "\n"


def resources(prefix: str, cpu_request: str, memory_request: str, cpu_limit: str | None,
               memory_limit: str | None) -> k8s.ResourceRequirements:
    requests = {
        "cpu": check.quantity(f"{prefix}cpu_request", cpu_request),
        "memory": check.quantity(f"{prefix}memory_request", memory_request),
    }
    limits = {}
    for resource, value in (("cpu", cpu_limit), ("memory", memory_limit)):
        if value is None:
            continue
        if check.quantity(f"{prefix}{resource}_limit", value) < requests[resource]:
            raise ValueError(
                f"{prefix}{resource}_limit must be at least {prefix}{resource}_request "
                f"({cpu_request if resource == 'cpu' else memory_request}), got {value!r}"
            )
        limits[resource] = k8s.Quantity.from_string(value)
    return k8s.ResourceRequirements(
        requests={"cpu": k8s.Quantity.from_string(cpu_request), "memory": k8s.Quantity.from_string(memory_request)},
        limits=limits or None,
    )


def spread(spread: str, selector: dict[str, str]) -> k8s.Affinity | None:
    if spread == "none":
        return None
    term = k8s.PodAffinityTerm(
        topology_key="kubernetes.io/hostname", label_selector=k8s.LabelSelector(match_labels=selector)
    )
    if spread == "hard":
        return k8s.Affinity(pod_anti_affinity=k8s.PodAntiAffinity(required_during_scheduling_ignored_during_execution=[term]))
    return k8s.Affinity(
        pod_anti_affinity=k8s.PodAntiAffinity(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.WeightedPodAffinityTerm(weight=100, pod_affinity_term=term)
            ]
        )
    )


def allow(port: int, peers: list[k8s.NetworkPolicyPeer]) -> k8s.NetworkPolicyIngressRule:
    return k8s.NetworkPolicyIngressRule(
        from_=peers, ports=[k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(port), protocol="TCP")]
    )


def labels(prop: str, labels: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(labels, Mapping) or not labels:
        raise ValueError(f"{prop} must be a non-empty mapping of label names to values, got {labels!r}")
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1] if isinstance(key, str) else None
        if not name or len(name) > 63 or not all(c.isalnum() or c in "-_." for c in name) or not name[0].isalnum():
            raise ValueError(f"{prop}: {key!r} is not a valid label name")
        if not isinstance(value, str) or len(value) > 63 or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError(f"{prop}[{key!r}] must be a label value (at most 63 letters, digits, '-', '_', '.'), got {value!r}")
    return dict(labels)


def image(prop: str, value: object) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"{prop} must be an image reference such as 'mysql:8.4', got {value!r}")
    return value


def pod_security(uid: int) -> k8s.PodSecurityContext:
    """The pods' security context: the image's mysql user, its group owning the volumes,
    the runtime's default seccomp profile."""
    return k8s.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
    )
