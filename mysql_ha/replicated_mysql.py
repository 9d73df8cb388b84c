"""ReplicatedMySQL: the StatefulSet of one primary and its read-only replicas."""

from __future__ import annotations

from collections.abc import Mapping

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _backup_pods as backup_pods
from . import _pod_spec as spec
from . import _set_checks as set_checks
from . import _set_pods as set_pods
from . import _validation as check
from ._k8s import LABEL_COMPONENT, ExtensibleNetworkPolicy, ExtensibleStatefulSet, PodTemplateAdditions, annotate_sync_waves
from ._set_pods import (
    CLONE_PORT,
    CONFIG_MAP_DIR,
    DATA_ROOT,
    DATA_SUBPATH,
    DATADIR,
    METRICS_PORT,
    PRIMARY_ORDINAL_FILE,
    RUN_DIR,
    SCRIPTS_DIR,
    SEMI_SYNC_FILE,
    TMP_DIR,
    PodParts,
)
from .backup_target import BackupTarget, RestoreFrom
from .local_storage import LocalStorage
from .mysql_config import MySQLConfig, content_hash
from .read_write_services import ReadWriteServices
from .tls import certificate, certificate_names, check_covers, required_names

MAX_SERVER_ID = 2**32 - 1
SEMI_SYNC_HASH_ANNOTATION = "mysql-ha/semi-sync"
"""On the pod template: the hash of the semi-sync settings, which pods read when they are made."""
DEFAULT_METRICS_IMAGE = "prom/mysqld-exporter:v0.16.0"
"""0.16.0 is the first release that reads MySQL 8.4's ``SHOW REPLICA STATUS`` (8.4 removed
``SHOW SLAVE STATUS``, which 0.15 reads)."""

# Policy-scan findings that this design answers on purpose, with the reason next to each.
CHECKOV_SKIPS = (
    ("CKV_K8S_11", "no CPU limit by default: CFS throttling stalls a latency-sensitive database; "
                   "the CPU request guarantees its share (set cpu_limit to add one)"),
    ("CKV_K8S_14", "images are pinned by tag to an LTS line; set server_image/tools_image to a "
                   "digest to pin further"),
    ("CKV_K8S_43", "images are referenced by tag, see CKV_K8S_14"),
    ("CKV_K8S_15", "imagePullPolicy IfNotPresent: a database pod must restart while the registry is "
                   "unreachable; set image_pull_policy to Always to re-check tags on every start"),
    ("CKV_K8S_40", "the images' mysql user is uid 999, which the entrypoints and data files expect"),
)


class ReplicatedMySQL(Construct):
    """A StatefulSet whose declared primary (ordinal 0 by default) takes the writes and every
    other pod is a read-only replica of it.

    The declared primary lives in a ConfigMap ``{name}-topology`` (key ``primary-ordinal``)
    that every pod reads at run time: change ``primary_ordinal`` and apply, and the set
    converges without a restart (the old primary turns read-only, the chosen pod applies
    every transaction the old one has, stops replicating and takes writes, every other pod
    re-points to it by GTID). The write Service follows at the same apply.

    Pods are managed in parallel (``podManagementPolicy: Parallel``): the controller creates
    and deletes them without waiting for lower ordinals to be ready. With OrderedReady, pod
    N is not created while a lower pod is unready, and a replica is unready while its
    source is gone: after a switchover to N > 0, losing the primary with a lower pod (or a
    lower pod stuck for any reason) would keep the primary from ever coming back. Nothing
    here needs the order: a new replica's clone fails until its donor answers and the
    kubelet restarts it; every replica follows whichever pod the topology declares.
    Template changes still roll one pod at a time, from the highest ordinal down, each
    after the previous one is ready (``RollingUpdate``). ``podManagementPolicy`` cannot
    change on a live set: a set made with OrderedReady is replaced keeping its pods and
    claims (``kubectl delete statefulset <name> --cascade=orphan``, then apply).

    Start-up of pod N:

    1. ``clone-mysql`` (init): on a replica with no data yet, copies the data of pod N-1
       (pod 0, when it is not the declared primary: the primary's)
       into a staging directory (MySQL 8.4/9.7: the CLONE plugin over port 3306;
       MariaDB and MySQL 5.7: a hot backup streamed over port 3307, then prepared),
       records where replication starts, and renames it into place: a half-done clone is
       never taken for data.
    2. ``init-mysql`` (init): picks ``primary.cnf`` or ``replica.cnf``, sets
       ``server-id = server_id_base + N``, writes the client option file from the Secret.
    3. ``mysql``: the server, from the engine's image and entrypoint.
    4. ``replication`` (sidecar): on the primary, creates the replication (and clone)
       accounts; on a fresh replica, points it at the declared primary from the clone's
       coordinates and starts it; then, every second, converges on the declared primary
       (switchover), restarts a receiver that stopped on a network error and, for
       backup-stream engines, serves backups to the next pod on port 3307.
    5. ``metrics`` (optional sidecar): mysqld_exporter on port 9104.

    Beside the StatefulSet: a ServiceAccount without API token, a PodDisruptionBudget and
    a NetworkPolicy that admits 3306 from client pods and the set, and (backup-stream
    engines) 3307 from the set only.

    With ``config.tls``: every container that talks to a server or a clone stream mounts
    the certificate's Secret at ``/etc/mysql-ha/tls``; for ``MySQLTLS.from_cert_manager``
    a cert-manager ``Certificate`` names every pod (``{name}-N.{name}`` for each of the
    ``replicas`` ordinals, wildcards for the longer forms) and every Service; for
    ``MySQLTLS.from_existing_secret`` the declared names must cover the same, or synthesis
    fails. The sidecar reloads a renewed certificate into the running server.

    :param config: the ConfigMaps and credentials (and the engine).
    :param storage: the StorageClass and volumes for the PVCs.
    :param services: the Services; the StatefulSet takes their ``name``.
    :param replicas: number of pods, primary included. Defaults to 2. With static local
        storage at most one per PersistentVolume.
    :param storage_request: PVC size, a quantity, at most the PV capacity. Defaults to ``3Gi``.
    :param cpu_request: CPU request of the server container. Defaults to ``500m``.
    :param memory_request: memory request of the server container. Defaults to ``1Gi``.
    :param cpu_limit: CPU limit of the server container. Defaults to no limit (see
        ``CHECKOV_SKIPS`` for why).
    :param memory_limit: memory limit of the server container. Defaults to ``memory_request``.
        The server's resources also apply to ``restore-mysql``, which runs the server to
        replay binary logs.
    :param sidecar_cpu_request: CPU request of the init containers and sidecars. Defaults to ``100m``.
    :param sidecar_memory_request: memory request of the same. Defaults to ``128Mi``.
    :param sidecar_cpu_limit: CPU limit of the same. Defaults to no limit.
    :param sidecar_memory_limit: memory limit of the same (a clone's prepare step uses about
        100Mi). Defaults to ``512Mi``.
    :param server_id_base: server-id of ordinal 0; pod N gets base + N. Defaults to 100.
    :param liveness_initial_delay_seconds: defaults to 0: the startup probe holds liveness
        back until the server first answers (then every 10 s, 5 s timeout, 6 failures).
    :param readiness_initial_delay_seconds: defaults to 0, likewise (then every 2 s, 5 s timeout).
    :param startup_timeout_seconds: how long a server's start (initialization, crash
        recovery of a large or busy set, a data dictionary or system table upgrade to a newer
        version) may take before liveness applies: a start cut short is killed and begins
        again, so it must fit. Defaults to 3600 (an hour, as MOCO allows); a server that
        answers is live at once, whatever this allows.
    :param max_replication_lag_seconds: a replica further behind than this leaves the read
        Service until it catches up. Defaults to 30.
    :param termination_grace_period_seconds: time for a clean shutdown. Defaults to 60.
    :param priority_class_name: PriorityClass of the pods. Defaults to none.
    :param max_unavailable: PodDisruptionBudget: pods that voluntary disruptions (drains)
        may take down at once. Defaults to 1.
    :param spread: ``soft`` (prefer one pod per node), ``hard`` (require it) or ``none``.
        Defaults to ``soft``. ``hard`` needs as many distinct nodes as replicas.
    :param client_labels: pods with these labels (same namespace) may reach port 3306.
        Defaults to ``{"{name}-client": "true"}``.
    :param metrics: adds a mysqld_exporter sidecar, a ``metrics`` port on the headless
        Service and Prometheus scrape annotations. Defaults to off.
    :param metrics_client_labels: pods allowed to scrape port 9104, in ``metrics_namespace``.
        Defaults to ``{"app.kubernetes.io/name": "prometheus"}``.
    :param metrics_namespace: the namespace of those pods (e.g. ``monitoring``). Defaults to
        the set's own: a scraper elsewhere needs it named, never any namespace.
    :param server_image: overrides the engine's server image. Defaults to the engine's.
    :param tools_image: overrides the engine's clone/sidecar image. Defaults to the engine's.
    :param metrics_image: the exporter's image. Defaults to ``prom/mysqld-exporter:v0.16.0``.
    :param image_pull_policy: ``IfNotPresent``, ``Always`` or ``Never``, for every container.
        Defaults to ``IfNotPresent``.
    :param primary_ordinal: the pod that takes writes. Defaults to 0. Changing it on a running
        set is a switchover (or, with the old primary lost, a failover: declare the most
        advanced replica, see ``status.sh``). Engines without GTID positioning (MySQL 5.7)
        keep 0.
    :param semi_sync: semi-synchronous replication: a commit returns only once
        ``semi_sync_acknowledgements`` replicas have it, so a crash of the primary loses no
        acknowledged write. Defaults to on when the set has a replica (``replicas`` >= 2) and
        the engine offers it (MySQL 8.4/9.7, MariaDB), off otherwise.
    :param semi_sync_acknowledgements: replicas that must acknowledge each commit. Defaults
        to 1 (MariaDB waits for exactly one).
    :param semi_sync_timeout_seconds: how long a commit waits for acknowledgements before the
        primary falls back to asynchronous replication (the write then commits on the
        primary alone). Defaults to 10. Longer also fences a partitioned old primary longer.
    :param restore_from: ``RestoreFrom(target, backup=..., point_in_time=...)``: the declared
        primary of a new set (empty data directory) starts from that backup, replayed to the
        point in time, before its server ever runs (init containers ``restore-fetch`` and
        ``restore-mysql``); every other pod clones from it. Defaults to an empty server.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: MySQLConfig,
        storage: LocalStorage,
        services: ReadWriteServices,
        replicas: int = 2,
        storage_request: str = "3Gi",
        cpu_request: str = "500m",
        memory_request: str = "1Gi",
        cpu_limit: str | None = None,
        memory_limit: str | None = None,
        sidecar_cpu_request: str = "100m",
        sidecar_memory_request: str = "128Mi",
        sidecar_cpu_limit: str | None = None,
        sidecar_memory_limit: str = "512Mi",
        server_id_base: int = 100,
        liveness_initial_delay_seconds: int = 0,
        readiness_initial_delay_seconds: int = 0,
        startup_timeout_seconds: int = 3600,
        max_replication_lag_seconds: int = 30,
        termination_grace_period_seconds: int = 60,
        priority_class_name: str | None = None,
        max_unavailable: int = 1,
        spread: str = "soft",
        client_labels: Mapping[str, str] | None = None,
        metrics: bool = False,
        metrics_client_labels: Mapping[str, str] | None = None,
        metrics_namespace: str | None = None,
        server_image: str | None = None,
        tools_image: str | None = None,
        metrics_image: str = DEFAULT_METRICS_IMAGE,
        image_pull_policy: str = "IfNotPresent",
        primary_ordinal: int = 0,
        semi_sync: bool | None = None,
        semi_sync_acknowledgements: int = 1,
        semi_sync_timeout_seconds: int = 10,
        restore_from: RestoreFrom | None = None,
    ) -> None:
        super().__init__(scope, id)
        set_checks.parts(config, storage, services, restore_from)
        self.replicas = set_checks.replicas(storage, replicas, storage_request)
        self.storage_request = storage_request
        server_resources = spec.resources("", cpu_request, memory_request, cpu_limit,
                                          memory_request if memory_limit is None else memory_limit)
        sidecar_resources = spec.resources("sidecar_", sidecar_cpu_request, sidecar_memory_request,
                                           sidecar_cpu_limit, sidecar_memory_limit)
        check.int_range("server_id_base", server_id_base, 1, MAX_SERVER_ID - 100, "server-id is 1 to 2^32-1")
        check.int_range("liveness_initial_delay_seconds", liveness_initial_delay_seconds, 0, 3600)
        check.int_range("readiness_initial_delay_seconds", readiness_initial_delay_seconds, 0, 3600)
        check.int_range("startup_timeout_seconds", startup_timeout_seconds, 10, 86400)
        check.int_range("max_replication_lag_seconds", max_replication_lag_seconds, 1, 86400)
        check.int_range("termination_grace_period_seconds", termination_grace_period_seconds, 10, 3600,
                        "a clean server shutdown needs time")
        if priority_class_name is not None:
            check.dns_subdomain("priority_class_name", priority_class_name)
        check.int_range("max_unavailable", max_unavailable, 1, 100, "0 would block every node drain")
        set_checks.spread(spread, storage, self.replicas)
        client_labels = spec.labels("client_labels", client_labels or {f"{services.name}-client": "true"})
        metrics_client_labels = spec.labels(
            "metrics_client_labels", metrics_client_labels or {"app.kubernetes.io/name": "prometheus"}
        )
        if metrics_namespace is not None:
            check.dns_label("metrics_namespace", metrics_namespace)
        engine = config.engine
        server_image = engine.server_image if server_image is None else spec.image("server_image", server_image)
        tools_image = engine.tools_image if tools_image is None else spec.image("tools_image", tools_image)
        metrics_image = spec.image("metrics_image", metrics_image)
        pull = check.one_of("image_pull_policy", image_pull_policy, ("IfNotPresent", "Always", "Never"))
        set_checks.metrics(metrics, config)
        tls = config.tls
        namespace = cdk8s.Chart.of(scope).namespace
        pods = [f"{services.name}-{ordinal}" for ordinal in range(self.replicas)]
        service_list = [services.headless.name, services.read.name, services.primary.name]
        if tls is not None and not tls.uses_cert_manager:
            check_covers("dns_names", tls.dns_names, required_names(pods, services.headless.name, service_list,
                                                                    namespace), tls.secret_for(services.name))
        self.primary_ordinal, semi_sync_settings = spec.topology(
            engine, self.replicas, primary_ordinal, semi_sync, semi_sync_acknowledgements, semi_sync_timeout_seconds
        )

        self.semi_sync = bool(semi_sync_settings)
        self.config = config
        self.services = services
        self.name = services.name
        self.metrics = metrics
        self.restore_from = restore_from
        self.client_labels = client_labels
        selector = dict(services.selector)
        labels = {**selector, LABEL_COMPONENT: "database"}
        parts = PodParts(
            engine=engine, server_image=server_image, tools_image=tools_image, pull=pull,
            env=PodParts.env_of(service=services.name, port=services.port, server_id_base=server_id_base,
                                max_lag_seconds=max_replication_lag_seconds, metrics=metrics),
            env_from=[k8s.EnvFromSource(config_map_ref=k8s.ConfigMapEnvSource(name=config.env_config_map.name))],
            security=PodParts.container_security(), sidecar_resources=sidecar_resources, tls=tls)
        # What MySQLBackup's Job and the restore containers share with the set's pods.
        self.engine = engine
        self.tools_image = tools_image
        self.server_image = server_image
        self.image_pull_policy = pull
        self.pod_env = parts.env
        self.pod_env_from = parts.env_from
        self.container_security = parts.security
        self.sidecar_resources = sidecar_resources
        self.server_resources = server_resources
        self.tls = tls

        # The pod: init containers, containers, volumes.
        restore_containers = [] if restore_from is None else backup_pods.restore_containers(
            self, restore_from, data_root=DATA_ROOT, config_map_dir=CONFIG_MAP_DIR, scripts=parts.scripts,
            tmp=parts.tmp, topology=parts.topology, certs=parts.certs)
        containers = [
            set_pods.server_container(parts, port=services.port, resources=server_resources,
                                      startup_timeout_seconds=startup_timeout_seconds,
                                      liveness_initial_delay_seconds=liveness_initial_delay_seconds,
                                      readiness_initial_delay_seconds=readiness_initial_delay_seconds),
            set_pods.replication_container(parts),
        ]
        volumes = [
            *set_pods.volumes(parts, config=config, set_name=self.name, metrics=metrics),
            *(restore_from.target.volumes() if restore_from is not None else []),
            *([set_pods.tls_volume(tls, services.name)] if tls is not None else []),
        ]
        # The semi-sync settings are read when a pod is made (init-config.sh): a change rolls
        # the pods, as a change of MySQLConfig's content-named ConfigMaps does.
        pod_annotations = {SEMI_SYNC_HASH_ANNOTATION: content_hash({
            SEMI_SYNC_FILE: spec.semi_sync_cnf(semi_sync_settings)})}
        if metrics:
            containers.append(set_pods.metrics_container(parts, image=metrics_image, port=services.port))
            services.add_metrics_port(METRICS_PORT)
            pod_annotations |= {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(METRICS_PORT),
                "prometheus.io/path": "/metrics",
            }

        # The objects, in this order: the certificate, the declared primary, the identity,
        # the StatefulSet, its disruption budget and its NetworkPolicy.
        self.certificate: cdk8s.ApiObject | None = None
        if tls is not None and tls.uses_cert_manager:
            self.certificate = certificate(
                self, "Certificate", tls=tls, set_name=self.name, labels=labels,
                dns_names=certificate_names(pods, services.headless.name, service_list, namespace, tls.dns_names),
            )
        self.topology_config_map = k8s.KubeConfigMap(
            self,
            "Topology",
            metadata=k8s.ObjectMeta(name=f"{self.name}-topology", labels=labels),
            data={
                PRIMARY_ORDINAL_FILE: str(self.primary_ordinal),
                SEMI_SYNC_FILE: spec.semi_sync_cnf(semi_sync_settings),
            },
        )
        services.select_primary(self.primary_ordinal)
        self.service_account = k8s.KubeServiceAccount(
            self,
            "ServiceAccount",
            metadata=k8s.ObjectMeta(name=self.name, labels=labels),
            automount_service_account_token=False,
        )
        pod_spec = k8s.PodSpec(
            service_account_name=self.service_account.name,
            automount_service_account_token=False,
            termination_grace_period_seconds=termination_grace_period_seconds,
            priority_class_name=priority_class_name,
            affinity=spec.spread(spread, selector),
            init_containers=[*restore_containers, set_pods.clone_container(parts),
                             set_pods.init_container(parts, secret_name=config.credentials.secret_name,
                                                     secret_keys=set_pods.secret_keys(parts, config, metrics=metrics),
                                                     metrics=metrics)],
            containers=containers,
            security_context=spec.pod_security(engine.uid),
            volumes=volumes,
        )
        self.stateful_set = self._stateful_set(labels, selector, pod_annotations, pod_spec,
                                               storage.storage_class_name, storage_request)
        self.pod_additions = PodTemplateAdditions()
        self.stateful_set.additions = self.pod_additions
        self.pod_disruption_budget = k8s.KubePodDisruptionBudget(
            self,
            "PodDisruptionBudget",
            metadata=k8s.ObjectMeta(name=self.name, labels=labels),
            spec=k8s.PodDisruptionBudgetSpec(
                max_unavailable=k8s.IntOrString.from_number(max_unavailable),
                selector=k8s.LabelSelector(match_labels=selector),
            ),
        )
        self.ingress_ports = [services.port, *([CLONE_PORT] if parts.streams else [])]
        self.binlog_archive: tuple[BackupTarget, int] | None = None
        self.network_policy = self._network_policy(labels, selector, client_labels,
                                                   metrics_client_labels if metrics else None, metrics_namespace)
        annotate_sync_waves(self)

    def _stateful_set(self, labels: dict[str, str], selector: dict[str, str], pod_annotations: dict[str, str] | None,
                      pod_spec: k8s.PodSpec, storage_class_name: str,
                      storage_request: str) -> ExtensibleStatefulSet:
        """The StatefulSet: pods managed in parallel, updated one at a time, each with its claim."""
        return ExtensibleStatefulSet(
            self,
            "StatefulSet",
            metadata=k8s.ObjectMeta(
                name=self.name,
                labels=labels,
                annotations={f"checkov.io/skip{i}": f"{rule}={why}" for i, (rule, why) in enumerate(CHECKOV_SKIPS, 1)},
            ),
            spec=k8s.StatefulSetSpec(
                service_name=self.services.headless.name,
                replicas=self.replicas,
                pod_management_policy="Parallel",
                update_strategy=k8s.StatefulSetUpdateStrategy(type="RollingUpdate"),
                selector=k8s.LabelSelector(match_labels=selector),
                template=k8s.PodTemplateSpec(metadata=k8s.ObjectMeta(labels=labels, annotations=pod_annotations),
                                             spec=pod_spec),
                volume_claim_templates=[
                    k8s.KubePersistentVolumeClaimProps(
                        metadata=k8s.ObjectMeta(name="data"),
                        spec=k8s.PersistentVolumeClaimSpec(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=storage_class_name,
                            resources=k8s.ResourceRequirements(
                                requests={"storage": k8s.Quantity.from_string(storage_request)}
                            ),
                        ),
                    )
                ],
            ),
        )

    def _network_policy(self, labels: dict[str, str], selector: dict[str, str], client_labels: dict[str, str],
                        metrics_client_labels: dict[str, str] | None,
                        metrics_namespace: str | None) -> ExtensibleNetworkPolicy:
        """Admits the server port from client pods and the set, the clone port (backup-stream
        engines) from the set, the metrics port from the scrapers (the set's namespace, or the
        one named); ``admit`` adds more."""
        members = k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(match_labels=selector))
        clients = k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(match_labels=client_labels))
        ingress = [spec.allow(self.services.port, [clients, members])]
        if CLONE_PORT in self.ingress_ports:
            ingress.append(spec.allow(CLONE_PORT, [members]))
        if metrics_client_labels is not None:
            namespaces = None if metrics_namespace is None else k8s.LabelSelector(
                match_labels={"kubernetes.io/metadata.name": metrics_namespace})
            scrapers = k8s.NetworkPolicyPeer(namespace_selector=namespaces,
                                             pod_selector=k8s.LabelSelector(match_labels=metrics_client_labels))
            ingress.append(spec.allow(METRICS_PORT, [scrapers]))
            self.metrics_scrapers = {"podSelector": {"matchLabels": dict(metrics_client_labels)}}
            if metrics_namespace is not None:
                self.metrics_scrapers["namespaceSelector"] = {
                    "matchLabels": {"kubernetes.io/metadata.name": metrics_namespace}}
        policy = ExtensibleNetworkPolicy(
            self,
            "NetworkPolicy",
            metadata=k8s.ObjectMeta(name=self.name, labels=labels),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=selector),
                policy_types=["Ingress"],
                ingress=ingress,
            ),
        )
        policy.extra_ingress = []
        return policy

    def archive_binlogs(self, target: BackupTarget, interval_seconds: int, rotate_seconds: int = 300,
                        keep_seconds: int = 0) -> None:
        """Copies every pod's closed binary logs to ``target``, and every ``interval_seconds``
        the declared primary's file being written as far as it holds every commit; the
        declared primary closes its current one every ``rotate_seconds`` when it took writes.
        The servers no longer expire binary logs themselves: each pod purges a file once it
        is archived and older than ``keep_seconds`` (0: never), so a file the target has not
        taken stays, however old. Called by ``MySQLBackup``."""
        if self.binlog_archive is not None:
            raise ValueError(f"the binary logs of {self.name} are archived already (to "
                             f"{self.binlog_archive[0].describe()}): one MySQLBackup per set archives them")
        self.binlog_archive = (target, interval_seconds)
        # The archiver names the first file the server must keep; the sidecar purges the
        # ones before it.
        purge_file = f"{TMP_DIR}/binlog-purge-to"
        self.pod_additions.add_container(backup_pods.binlog_archiver(
            self, target, interval_seconds, datadir=DATADIR, data_subpath=DATA_SUBPATH, run_dir=RUN_DIR,
            scripts_dir=SCRIPTS_DIR, tmp_dir=TMP_DIR, keep_seconds=keep_seconds, purge_file=purge_file))
        if self.metrics:
            # The archiver's own metrics (a gap, how far it reaches), beside the exporter's.
            self.pod_additions.add_container(backup_pods.archive_metrics(self, target, tmp_dir=TMP_DIR))
            self.services.add_metrics_port(backup_pods.ARCHIVE_METRICS_PORT, "archive-metrics")
            self.network_policy.extra_ingress.append(
                {"from": [self.metrics_scrapers],
                 "ports": [{"port": backup_pods.ARCHIVE_METRICS_PORT, "protocol": "TCP"}]})
        # The replication sidecar closes the primary's binary log, and marks how much of the
        # file being written holds every commit.
        self.pod_additions.add_env("replication", "MYSQL_HA_BINLOG_FLUSH_SECONDS", str(rotate_seconds))
        self.pod_additions.add_env("replication", "MYSQL_HA_BINLOG_MARK_SECONDS", str(interval_seconds))
        self.pod_additions.add_env("replication", "MYSQL_HA_BINLOG_PURGE_FILE", purge_file)
        self.pod_additions.add_args("mysql", self.engine.binlog_keep_option)
        # One volume "backup-target" per pod: the restore's, if any, must be the same.
        restoring = self.restore_from.target if self.restore_from is not None else None
        if restoring is None:
            self.pod_additions.add_volume(target.volume_json())
        elif not restoring.same_volume(target):
            raise ValueError(f"the set restores from {restoring.describe()} and would archive its binary logs to "
                             f"{target.describe()}: with a different claim or credentials Secret, restore into a "
                             "set that MySQLBackup archives only once it runs (two charts), or use the same target")

    def admit(self, labels: Mapping[str, str]) -> None:
        """Lets pods with ``labels`` (same namespace) reach the server and clone ports."""
        peer = {"podSelector": {"matchLabels": dict(labels)}}
        self.network_policy.extra_ingress.extend(
            {"from": [peer], "ports": [{"port": port, "protocol": "TCP"}]} for port in self.ingress_ports)

    @property
    def primary_host(self) -> str:
        """DNS name of the declared primary, for writes: ``{name}-{primary_ordinal}.{name}``."""
        return self.services.primary_host

    @property
    def read_host(self) -> str:
        """DNS name of the read Service, for reads from any ready pod."""
        return self.services.read_host

