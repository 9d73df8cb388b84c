"""ReplicatedMySQL: the StatefulSet of one primary and its read-only replicas."""

from __future__ import annotations

from collections.abc import Mapping

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _backup_pods as backup_pods
from . import _pod_spec as spec
from . import _validation as check
from ._k8s import LABEL_COMPONENT, ExtensibleNetworkPolicy, ExtensibleStatefulSet, PodTemplateAdditions, annotate_sync_waves
from .backup_target import BackupTarget, RestoreFrom
from .local_storage import LocalStorage
from .mysql_config import MySQLConfig
from .read_write_services import ReadWriteServices
from .tls import CA_KEY, CERT_KEY, KEY_KEY, TLS_DIR, certificate, certificate_names, check_covers, required_names

CLONE_PORT = 3307
METRICS_PORT = 9104
MAX_SERVER_ID = 2**32 - 1
SPREADS = ("soft", "hard", "none")
DEFAULT_METRICS_IMAGE = "prom/mysqld-exporter:v0.16.0"
"""0.16.0 is the first release that reads MySQL 8.4's ``SHOW REPLICA STATUS`` (8.4 removed
``SHOW SLAVE STATUS``, which 0.15 reads)."""

# Where the pod's volumes are mounted: the scripts receive these paths as variables.
DATA_ROOT = "/data"  # the whole PVC, in the clone init container only
DATADIR = "/var/lib/mysql"  # the PVC's "mysql" directory, in every other container
DATA_SUBPATH = "mysql"
CONF_DIR = "/etc/mysql/conf.d"  # generated configuration, read by the server
CONF_INIT_DIR = "/mnt/conf.d"  # the same emptyDir, where init-mysql writes it
CONFIG_MAP_DIR = "/mnt/config-map"
TOPOLOGY_DIR = "/etc/mysql-ha/topology"  # the declared primary, read at run time (a ConfigMap volume)
PRIMARY_ORDINAL_FILE = "primary-ordinal"
SEMI_SYNC_FILE = "semi-sync.cnf"
SECRET_DIR = "/etc/mysql-ha/credentials"
RUN_DIR = "/run/mysql-ha"  # in-memory: client option files and readiness markers
SCRIPTS_DIR = "/opt/mysql-ha"
TMP_DIR = "/tmp"
ROOT_PASSWORD_FILE = "root-password"
REPLICATION_PASSWORD_FILE = "replication-password"
METRICS_PASSWORD_FILE = "metrics-password"
CLONE_PASSWORD_FILE = "clone-password"
METRICS_USER = "exporter"

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

    Start-up of pod N (OrderedReady: pod N starts once pods 0..N-1 are ready):

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
    :param sidecar_cpu_request: CPU request of the init containers and sidecars. Defaults to ``100m``.
    :param sidecar_memory_request: memory request of the same. Defaults to ``128Mi``.
    :param sidecar_cpu_limit: CPU limit of the same. Defaults to no limit.
    :param sidecar_memory_limit: memory limit of the same (a clone's prepare step uses about
        100Mi). Defaults to ``512Mi``.
    :param server_id_base: server-id of ordinal 0; pod N gets base + N. Defaults to 100.
    :param liveness_initial_delay_seconds: defaults to 0: the startup probe holds liveness
        back until the server first answers (then every 10 s, 5 s timeout, 6 failures).
    :param readiness_initial_delay_seconds: defaults to 0, likewise (then every 2 s, 1 s timeout).
    :param startup_timeout_seconds: how long a start (initialization, crash recovery) may
        take before liveness applies. Defaults to 300.
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
    :param metrics_client_labels: pods (any namespace) allowed to scrape port 9104.
        Defaults to ``{"app.kubernetes.io/name": "prometheus"}``.
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
        startup_timeout_seconds: int = 300,
        max_replication_lag_seconds: int = 30,
        termination_grace_period_seconds: int = 60,
        priority_class_name: str | None = None,
        max_unavailable: int = 1,
        spread: str = "soft",
        client_labels: Mapping[str, str] | None = None,
        metrics: bool = False,
        metrics_client_labels: Mapping[str, str] | None = None,
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
        if restore_from is not None and not isinstance(restore_from, RestoreFrom):
            raise ValueError(f"restore_from must be a RestoreFrom(target, backup=..., point_in_time=...), "
                             f"got {restore_from!r}")
        if restore_from is not None and not config.engine.supports_backups:
            raise ValueError(f"restore_from is not offered for engine {config.engine.name}: point-in-time restore "
                             "replays binary logs by GTID; choose MySQL 8.4/9.7 or MariaDB")
        for prop, value, kind in (
            ("config", config, MySQLConfig),
            ("storage", storage, LocalStorage),
            ("services", services, ReadWriteServices),
        ):
            if not isinstance(value, kind):
                raise ValueError(f"{prop} must be a {kind.__name__} construct, got {value!r}")
        limit = storage.max_replicas
        if limit is None:
            self.replicas = check.int_range("replicas", replicas, 1, 100)
        else:
            self.replicas = check.int_range(
                "replicas", replicas, 1, limit, f"one local PersistentVolume per replica, {limit} defined"
            )
        request_bytes = check.quantity("storage_request", storage_request)
        if storage.capacity_bytes is not None and request_bytes > storage.capacity_bytes:
            raise ValueError(
                f"storage_request must fit in one local PersistentVolume of {storage.capacity}, "
                f"got {storage_request!r}"
            )
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
        check.one_of("spread", spread, SPREADS)
        if spread == "hard" and storage.nodes and len(set(storage.nodes)) < self.replicas:
            raise ValueError(
                f"spread='hard' puts each of the {self.replicas} pods on its own node, but the local "
                f"PersistentVolumes sit on {len(set(storage.nodes))} node(s) ({', '.join(storage.nodes)}); "
                "list more nodes in LocalStorage(nodes=...), use dynamic storage, or spread='soft'"
            )
        client_labels = spec.labels("client_labels", client_labels or {f"{services.name}-client": "true"})
        metrics_client_labels = spec.labels(
            "metrics_client_labels", metrics_client_labels or {"app.kubernetes.io/name": "prometheus"}
        )
        engine = config.engine
        server_image = engine.server_image if server_image is None else spec.image("server_image", server_image)
        tools_image = engine.tools_image if tools_image is None else spec.image("tools_image", tools_image)
        metrics_image = spec.image("metrics_image", metrics_image)
        pull = check.one_of("image_pull_policy", image_pull_policy, ("IfNotPresent", "Always", "Never"))
        if not isinstance(metrics, bool):
            raise ValueError(f"metrics must be True or False, got {metrics!r}")
        if metrics and config.credentials.creates_secret and config.credentials.metrics_password is None:
            raise ValueError(
                "metrics=True needs the exporter's password in the Secret: pass metrics_password to "
                "MySQLCredentials.from_passwords(...), got none (the pods would wait for a missing "
                f"{config.credentials.metrics_password_key!r} key)"
            )

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
        selector = dict(services.selector)
        labels = {**selector, LABEL_COMPONENT: "database"}

        env = [
            k8s.EnvVar(name=name, value=value)
            for name, value in (
                ("MYSQL_HA_SERVICE", services.name),
                ("MYSQL_HA_PORT", str(services.port)),
                ("MYSQL_HA_CLONE_PORT", str(CLONE_PORT)),
                ("MYSQL_HA_SERVER_ID_BASE", str(server_id_base)),
                ("MYSQL_HA_MAX_LAG_SECONDS", str(max_replication_lag_seconds)),
                ("MYSQL_HA_METRICS_USER", METRICS_USER if metrics else ""),
                ("MYSQL_HA_DATADIR", DATADIR),
                ("MYSQL_HA_RUN_DIR", RUN_DIR),
                ("MYSQL_HA_SECRET_DIR", SECRET_DIR),
                ("MYSQL_HA_SCRIPTS_DIR", SCRIPTS_DIR),
                ("MYSQL_HA_TOPOLOGY_DIR", TOPOLOGY_DIR),
                ("TMPDIR", TMP_DIR),
            )
        ]
        env_from = [k8s.EnvFromSource(config_map_ref=k8s.ConfigMapEnvSource(name=config.env_config_map.name))]
        scripts = k8s.VolumeMount(name="scripts", mount_path=SCRIPTS_DIR, read_only=True)
        secret = k8s.VolumeMount(name="credentials", mount_path=SECRET_DIR, read_only=True)
        run = k8s.VolumeMount(name="run", mount_path=RUN_DIR)
        tmp = k8s.VolumeMount(name="tmp", mount_path=TMP_DIR)
        datadir = k8s.VolumeMount(name="data", mount_path=DATADIR, sub_path=DATA_SUBPATH)
        conf = k8s.VolumeMount(name="conf", mount_path=CONF_DIR)
        certs = [k8s.VolumeMount(name="tls", mount_path=TLS_DIR, read_only=True)] if tls is not None else []
        # A whole ConfigMap volume (no subPath): the kubelet updates its files in running pods.
        topology = k8s.VolumeMount(name="topology", mount_path=TOPOLOGY_DIR, read_only=True)
        security = k8s.SecurityContext(
            allow_privilege_escalation=False,
            privileged=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k8s.Capabilities(drop=["ALL"]),
        )

        def script(name: str) -> list[str]:
            return ["bash", f"{SCRIPTS_DIR}/{name}"]

        # What MySQLBackup's Job and the restore containers share with the set's pods.
        self.engine = engine
        self.tools_image = tools_image
        self.server_image = server_image
        self.image_pull_policy = pull
        self.pod_env = env
        self.pod_env_from = env_from
        self.container_security = security
        self.sidecar_resources = sidecar_resources
        self.tls = tls

        def exec_probe(command: list[str], **timing: int) -> k8s.Probe:
            return k8s.Probe(exec=k8s.ExecAction(command=command), **timing)

        admin_ping = [engine.admin, f"--defaults-extra-file={RUN_DIR}/client.cnf", "ping"]
        streams = engine.serves_backup_streams
        clone = k8s.Container(
            name="clone-mysql",
            image=tools_image,
            image_pull_policy=pull,
            command=script("clone.sh"),
            env=[*env, k8s.EnvVar(name="MYSQL_HA_DATA_ROOT", value=DATA_ROOT)],
            env_from=env_from,
            # The CLONE plugin logs in to the donor with the clone account's password.
            volume_mounts=[k8s.VolumeMount(name="data", mount_path=DATA_ROOT), scripts, tmp, topology,
                           *([] if streams else [secret]), *certs],
            resources=sidecar_resources,
            security_context=security,
        )
        init = k8s.Container(
            name="init-mysql",
            image=server_image,
            image_pull_policy=pull,
            command=script("init-config.sh"),
            env=[
                *env,
                k8s.EnvVar(name="MYSQL_HA_CONFIG_DIR", value=CONFIG_MAP_DIR),
                k8s.EnvVar(name="MYSQL_HA_CONF_DIR", value=CONF_INIT_DIR),
            ],
            env_from=env_from,
            volume_mounts=[
                k8s.VolumeMount(name="conf", mount_path=CONF_INIT_DIR),
                k8s.VolumeMount(name="config-map", mount_path=CONFIG_MAP_DIR, read_only=True),
                k8s.VolumeMount(name="data", mount_path=DATADIR, sub_path=DATA_SUBPATH, read_only=True),
                secret,
                run,
                scripts,
                tmp,
                topology,
            ],
            resources=sidecar_resources,
            security_context=security,
        )
        server = k8s.Container(
            name="mysql",
            image=server_image,
            image_pull_policy=pull,
            env=[*env, k8s.EnvVar(name=engine.root_password_file_env, value=f"{SECRET_DIR}/{ROOT_PASSWORD_FILE}")],
            env_from=env_from,
            ports=[k8s.ContainerPort(name="mysql", container_port=services.port)],
            volume_mounts=[
                datadir,
                conf,
                secret,
                run,
                scripts,
                tmp,
                topology,
                k8s.VolumeMount(name="socket", mount_path=engine.socket_dir),
                *certs,
            ],
            resources=server_resources,
            security_context=security,
            # The server answers at all: liveness and readiness wait for this.
            startup_probe=exec_probe(
                admin_ping, period_seconds=2, timeout_seconds=5, failure_threshold=-(-startup_timeout_seconds // 2)
            ),
            # `ping` succeeds while the server runs, even when it is too busy to take a
            # login; six misses in a row (a minute) mean it hangs.
            liveness_probe=exec_probe(
                admin_ping,
                initial_delay_seconds=liveness_initial_delay_seconds,
                period_seconds=10,
                timeout_seconds=5,
                failure_threshold=6,
            ),
            # Queries work and, on a replica, both replication threads run within the lag bound.
            readiness_probe=exec_probe(
                script("readiness.sh"),
                initial_delay_seconds=readiness_initial_delay_seconds,
                period_seconds=2,
                timeout_seconds=1,
            ),
        )
        sidecar = k8s.Container(
            name="replication",
            image=tools_image,
            image_pull_policy=pull,
            command=script("replication.sh"),
            env=[*env, k8s.EnvVar(name="MYSQL_HA_CONF_DIR", value=CONF_DIR)],
            env_from=env_from,
            ports=[k8s.ContainerPort(name="clone", container_port=CLONE_PORT)] if streams else None,
            volume_mounts=[datadir, conf, secret, run, scripts, tmp, topology, *certs],
            resources=sidecar_resources,
            security_context=security,
            # Ready once the account (primary) or the replication (replica) is set up.
            readiness_probe=exec_probe(["test", "-e", f"{RUN_DIR}/replication-ready"], period_seconds=1),
            # Its watch loop beats, and for backup-stream engines something listens on the
            # clone port (read from the socket table: a connection there would start a
            # backup). Set-up may wait for the server that long.
            liveness_probe=exec_probe(
                script("sidecar-liveness.sh"), initial_delay_seconds=startup_timeout_seconds, period_seconds=20
            ),
        )
        containers = [server, sidecar]
        self.restore_from = restore_from
        restore_containers = [] if restore_from is None else backup_pods.restore_containers(
            self, restore_from, data_root=DATA_ROOT, config_map_dir=CONFIG_MAP_DIR, scripts=scripts, tmp=tmp,
            topology=topology, secret=secret, certs=certs)
        volumes = [
            k8s.Volume(name="conf", empty_dir=k8s.EmptyDirVolumeSource()),
            k8s.Volume(name="run", empty_dir=k8s.EmptyDirVolumeSource(medium="Memory")),
            k8s.Volume(name="socket", empty_dir=k8s.EmptyDirVolumeSource(medium="Memory")),
            k8s.Volume(name="tmp", empty_dir=k8s.EmptyDirVolumeSource()),
            k8s.Volume(name="config-map", config_map=k8s.ConfigMapVolumeSource(name=config.config_map.name)),
            k8s.Volume(name="topology", config_map=k8s.ConfigMapVolumeSource(name=f"{self.name}-topology")),
            k8s.Volume(
                name="scripts",
                config_map=k8s.ConfigMapVolumeSource(name=config.scripts_config_map.name, default_mode=0o555),
            ),
            k8s.Volume(
                name="credentials",
                secret=k8s.SecretVolumeSource(
                    secret_name=config.credentials.secret_name,
                    default_mode=0o440,
                    items=[
                        k8s.KeyToPath(key=config.credentials.root_password_key, path=ROOT_PASSWORD_FILE),
                        k8s.KeyToPath(key=config.credentials.replication_password_key, path=REPLICATION_PASSWORD_FILE),
                        *(
                            [k8s.KeyToPath(key=config.credentials.metrics_password_key, path=METRICS_PASSWORD_FILE)]
                            if metrics
                            else []
                        ),
                        *(
                            []
                            if streams
                            else [k8s.KeyToPath(key=config.credentials.clone_password_key, path=CLONE_PASSWORD_FILE)]
                        ),
                    ],
                ),
            ),
        ]
        if restore_from is not None:
            volumes += restore_from.target.volumes()
        if tls is not None:
            volumes.append(k8s.Volume(
                name="tls",
                secret=k8s.SecretVolumeSource(
                    secret_name=tls.secret_for(services.name),
                    default_mode=0o440,
                    items=[k8s.KeyToPath(key=key, path=key) for key in (CERT_KEY, KEY_KEY, CA_KEY)],
                ),
            ))
        pod_annotations = None
        if metrics:
            containers.append(
                k8s.Container(
                    name="metrics",
                    image=metrics_image,
                    image_pull_policy=pull,
                    # init-mysql writes the option file from the Secret's metrics password (and,
                    # with TLS on, ssl-ca: the exporter then speaks TLS to 127.0.0.1, which is
                    # not among the certificate's names).
                    args=[f"--config.my-cnf={RUN_DIR}/exporter.cnf", f"--mysqld.address=127.0.0.1:{services.port}",
                          *(["--tls.insecure-skip-verify"] if tls is not None else [])],
                    ports=[k8s.ContainerPort(name="metrics", container_port=METRICS_PORT)],
                    volume_mounts=[k8s.VolumeMount(name="run", mount_path=RUN_DIR, read_only=True), *certs],
                    resources=sidecar_resources,
                    security_context=security,
                    liveness_probe=k8s.Probe(http_get=k8s.HttpGetAction(
                        path="/", port=k8s.IntOrString.from_string("metrics")), period_seconds=20),
                    readiness_probe=k8s.Probe(http_get=k8s.HttpGetAction(
                        path="/", port=k8s.IntOrString.from_string("metrics")), period_seconds=10),
                )
            )
            services.add_metrics_port(METRICS_PORT)
            pod_annotations = {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(METRICS_PORT),
                "prometheus.io/path": "/metrics",
            }

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
        self.stateful_set = ExtensibleStatefulSet(
            self,
            "StatefulSet",
            metadata=k8s.ObjectMeta(
                name=self.name,
                labels=labels,
                annotations={f"checkov.io/skip{i}": f"{rule}={why}" for i, (rule, why) in enumerate(CHECKOV_SKIPS, 1)},
            ),
            spec=k8s.StatefulSetSpec(
                service_name=services.headless.name,
                replicas=self.replicas,
                pod_management_policy="OrderedReady",
                update_strategy=k8s.StatefulSetUpdateStrategy(type="RollingUpdate"),
                selector=k8s.LabelSelector(match_labels=selector),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels, annotations=pod_annotations),
                    spec=k8s.PodSpec(
                        service_account_name=self.service_account.name,
                        automount_service_account_token=False,
                        termination_grace_period_seconds=termination_grace_period_seconds,
                        priority_class_name=priority_class_name,
                        affinity=spec.spread(spread, selector),
                        init_containers=[*restore_containers, clone, init],
                        containers=containers,
                        security_context=spec.pod_security(engine.uid),
                        volumes=volumes,
                    ),
                ),
                volume_claim_templates=[
                    k8s.KubePersistentVolumeClaimProps(
                        metadata=k8s.ObjectMeta(name="data"),
                        spec=k8s.PersistentVolumeClaimSpec(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=storage.storage_class_name,
                            resources=k8s.ResourceRequirements(
                                requests={"storage": k8s.Quantity.from_string(storage_request)}
                            ),
                        ),
                    )
                ],
            ),
        )
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
        members = k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(match_labels=selector))
        clients = k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(match_labels=client_labels))
        ingress = [spec.allow(services.port, [clients, members])]
        if streams:
            ingress.append(spec.allow(CLONE_PORT, [members]))
        if metrics:
            ingress.append(
                spec.allow(
                    METRICS_PORT,
                    [
                        k8s.NetworkPolicyPeer(
                            namespace_selector=k8s.LabelSelector(),
                            pod_selector=k8s.LabelSelector(match_labels=metrics_client_labels),
                        )
                    ],
                )
            )
        self.ingress_ports = [services.port, *([CLONE_PORT] if streams else [])]
        self.binlog_archive: tuple[BackupTarget, int] | None = None
        self.network_policy = ExtensibleNetworkPolicy(
            self,
            "NetworkPolicy",
            metadata=k8s.ObjectMeta(name=self.name, labels=labels),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=selector),
                policy_types=["Ingress"],
                ingress=ingress,
            ),
        )
        self.network_policy.extra_ingress = []
        self.client_labels = client_labels
        annotate_sync_waves(self)

    def archive_binlogs(self, target: BackupTarget, interval_seconds: int) -> None:
        """Copies every pod's closed binary logs to ``target``; the declared primary closes its
        current one every ``interval_seconds`` when it took writes. Called by ``MySQLBackup``."""
        if self.binlog_archive is not None:
            raise ValueError(f"the binary logs of {self.name} are archived already (to "
                             f"{self.binlog_archive[0].describe()}): one MySQLBackup per set archives them")
        self.binlog_archive = (target, interval_seconds)
        self.pod_additions.add_container(backup_pods.binlog_archiver(
            self, target, interval_seconds, datadir=DATADIR, data_subpath=DATA_SUBPATH, run_dir=RUN_DIR,
            scripts_dir=SCRIPTS_DIR, tmp_dir=TMP_DIR))
        # The replication sidecar closes the primary's binary log.
        self.pod_additions.add_env("replication", "MYSQL_HA_BINLOG_FLUSH_SECONDS", str(interval_seconds))
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
