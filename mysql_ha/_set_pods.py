"""The pod of ReplicatedMySQL's StatefulSet: where its volumes are mounted, what every
container shares (``PodParts``), and each container and volume, built from those."""

from __future__ import annotations

from dataclasses import dataclass

from cdk8s_plus_27 import k8s

from .engines import Engine
from .mysql_config import MySQLConfig
from .tls import CA_KEY, CERT_KEY, KEY_KEY, TLS_DIR, MySQLTLS

CLONE_PORT = 3307
METRICS_PORT = 9104

# Where the pod's volumes are mounted: the scripts receive these paths as variables.
DATA_ROOT = "/data"  # the whole PVC, in the clone init container only
DATADIR = "/var/lib/mysql"  # the PVC's "mysql" directory, in every other container
DATA_SUBPATH = "mysql"
CONF_DIR = "/etc/mysql/conf.d"  # generated configuration, read by the server
CONFIG_MAP_DIR = "/mnt/config-map"
TOPOLOGY_DIR = "/etc/mysql-ha/topology"  # the declared primary, read at run time (a ConfigMap volume)
PRIMARY_ORDINAL_FILE = "primary-ordinal"
SEMI_SYNC_FILE = "semi-sync.cnf"
SECRET_DIR = "/etc/mysql-ha/credentials"  # the Secret's files, in init-mysql (and a clone's own key)
AUTH_DIR = "/etc/mysql-ha/auth"  # each container's own option files, from init-mysql
AUTH_INIT_DIR = "/mnt/auth"  # where init-mysql writes them: one in-memory volume per container
AUTH_VOLUMES = {"server": "mysql", "sidecar": "replication", "metrics": "metrics"}
"""Each in-memory volume of option files (``<name>-auth``) and the container that reads it:
a container reads the passwords its own statements use, and no other."""
RUN_DIR = "/run/mysql-ha"  # in-memory, shared by the containers: readiness markers, no password
SCRIPTS_DIR = "/opt/mysql-ha"
TMP_DIR = "/tmp"
ROOT_PASSWORD_FILE = "root-password"
ADMIN_PASSWORD_FILE = "admin-password"
STATUS_PASSWORD_FILE = "status-password"
REPLICATION_PASSWORD_FILE = "replication-password"
CLONE_PASSWORD_FILE = "clone-password"
METRICS_PASSWORD_FILE = "metrics-password"
BACKUP_PASSWORD_FILE = "backup-password"
METRICS_USER = "exporter"


def script(name: str) -> list[str]:
    """The command that runs one of the mounted scripts."""
    return ["bash", f"{SCRIPTS_DIR}/{name}"]


def exec_probe(command: list[str], **timing: int) -> k8s.Probe:
    return k8s.Probe(exec=k8s.ExecAction(command=command), **timing)


@dataclass(frozen=True)
class PodParts:
    """What the containers of a set's pod share: the engine, images, environment, security
    context, the sidecars' resources and the volume mounts most of them use."""

    engine: Engine
    server_image: str
    tools_image: str
    pull: str
    env: list[k8s.EnvVar]
    env_from: list[k8s.EnvFromSource]
    security: k8s.SecurityContext
    sidecar_resources: k8s.ResourceRequirements
    tls: MySQLTLS | None

    @staticmethod
    def env_of(*, service: str, port: int, server_id_base: int, max_lag_seconds: int,
               metrics: bool) -> list[k8s.EnvVar]:
        """The variables every script of the set reads."""
        return [
            k8s.EnvVar(name=name, value=value)
            for name, value in (
                ("MYSQL_HA_SERVICE", service),
                ("MYSQL_HA_PORT", str(port)),
                ("MYSQL_HA_CLONE_PORT", str(CLONE_PORT)),
                ("MYSQL_HA_SERVER_ID_BASE", str(server_id_base)),
                ("MYSQL_HA_MAX_LAG_SECONDS", str(max_lag_seconds)),
                ("MYSQL_HA_METRICS_USER", METRICS_USER if metrics else ""),
                ("MYSQL_HA_DATADIR", DATADIR),
                ("MYSQL_HA_RUN_DIR", RUN_DIR),
                ("MYSQL_HA_SECRET_DIR", SECRET_DIR),
                ("MYSQL_HA_AUTH_DIR", AUTH_DIR),
                ("MYSQL_HA_SCRIPTS_DIR", SCRIPTS_DIR),
                ("MYSQL_HA_TOPOLOGY_DIR", TOPOLOGY_DIR),
                ("TMPDIR", TMP_DIR),
            )
        ]

    @staticmethod
    def container_security() -> k8s.SecurityContext:
        """Every container: no privileges, no escalation, a read-only root filesystem."""
        return k8s.SecurityContext(
            allow_privilege_escalation=False,
            privileged=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k8s.Capabilities(drop=["ALL"]),
        )

    @property
    def streams(self) -> bool:
        """The engine clones from a hot-backup stream on ``CLONE_PORT`` (not the CLONE plugin)."""
        return self.engine.serves_backup_streams

    # The mounts most containers share.
    @property
    def scripts(self) -> k8s.VolumeMount:
        return k8s.VolumeMount(name="scripts", mount_path=SCRIPTS_DIR, read_only=True)

    @property
    def secret(self) -> k8s.VolumeMount:
        """Every password of the Secret: init-mysql alone, which hands each container its own."""
        return k8s.VolumeMount(name="credentials", mount_path=SECRET_DIR, read_only=True)

    @staticmethod
    def auth(volume: str) -> k8s.VolumeMount:
        """A container's own option files (``AUTH_VOLUMES``), read-only."""
        return k8s.VolumeMount(name=f"{volume}-auth", mount_path=AUTH_DIR, read_only=True)

    @property
    def socket(self) -> k8s.VolumeMount:
        return k8s.VolumeMount(name="socket", mount_path=self.engine.socket_dir)

    @property
    def run(self) -> k8s.VolumeMount:
        return k8s.VolumeMount(name="run", mount_path=RUN_DIR)

    @property
    def tmp(self) -> k8s.VolumeMount:
        return k8s.VolumeMount(name="tmp", mount_path=TMP_DIR)

    @property
    def datadir(self) -> k8s.VolumeMount:
        return k8s.VolumeMount(name="data", mount_path=DATADIR, sub_path=DATA_SUBPATH)

    @property
    def conf(self) -> k8s.VolumeMount:
        return k8s.VolumeMount(name="conf", mount_path=CONF_DIR)

    @property
    def certs(self) -> list[k8s.VolumeMount]:
        return [k8s.VolumeMount(name="tls", mount_path=TLS_DIR, read_only=True)] if self.tls is not None else []

    @property
    def topology(self) -> k8s.VolumeMount:
        # A whole ConfigMap volume (no subPath): the kubelet updates its files in running pods.
        return k8s.VolumeMount(name="topology", mount_path=TOPOLOGY_DIR, read_only=True)


def clone_container(parts: PodParts) -> k8s.Container:
    """Init ``clone-mysql``: a replica with no data copies pod N-1's (see clone.sh)."""
    return k8s.Container(
        name="clone-mysql",
        image=parts.tools_image,
        image_pull_policy=parts.pull,
        command=script("clone.sh"),
        env=[*parts.env, k8s.EnvVar(name="MYSQL_HA_DATA_ROOT", value=DATA_ROOT)],
        env_from=parts.env_from,
        # The CLONE plugin logs in to the donor with the clone account's password, its only one.
        volume_mounts=[k8s.VolumeMount(name="data", mount_path=DATA_ROOT), parts.scripts, parts.tmp, parts.topology,
                       *([] if parts.streams else [k8s.VolumeMount(name="clone-credentials", mount_path=SECRET_DIR,
                                                                   read_only=True)]),
                       *parts.certs],
        resources=parts.sidecar_resources,
        security_context=parts.security,
    )


def init_container(parts: PodParts, *, secret_keys: dict[str, str], secret_name: str,
                   metrics: bool) -> k8s.Container:
    """Init ``init-mysql``: the server's configuration for this ordinal, an empty data
    directory initialized, the accounts the server sets at every start (its init file) and
    each container's option files (see init-config.sh). ``secret_keys``: the Secret's key of
    each password file, named in the message about a missing one."""
    return k8s.Container(
        name="init-mysql",
        image=parts.server_image,
        image_pull_policy=parts.pull,
        command=script("init-config.sh"),
        env=[
            *parts.env,
            k8s.EnvVar(name="MYSQL_HA_CONFIG_DIR", value=CONFIG_MAP_DIR),
            k8s.EnvVar(name="MYSQL_HA_CONF_DIR", value=CONF_DIR),
            k8s.EnvVar(name="MYSQL_HA_DATA_ROOT", value=DATA_ROOT),
            k8s.EnvVar(name="MYSQL_HA_AUTH_INIT_DIR", value=AUTH_INIT_DIR),
            k8s.EnvVar(name="MYSQL_HA_SECRET_NAME", value=secret_name),
            k8s.EnvVar(name="MYSQL_HA_SECRET_KEYS", value=" ".join(f"{f}={k}" for f, k in secret_keys.items())),
        ],
        env_from=parts.env_from,
        volume_mounts=[
            # The server's own configuration path: an empty data directory is initialized with it.
            parts.conf,
            k8s.VolumeMount(name="config-map", mount_path=CONFIG_MAP_DIR, read_only=True),
            k8s.VolumeMount(name="data", mount_path=DATA_ROOT),
            parts.secret,
            *[k8s.VolumeMount(name=f"{volume}-auth", mount_path=f"{AUTH_INIT_DIR}/{volume}")
              for volume in AUTH_VOLUMES if metrics or volume != "metrics"],
            parts.run,
            parts.scripts,
            parts.tmp,
            parts.topology,
            *parts.certs,
        ],
        resources=parts.sidecar_resources,
        security_context=parts.security,
    )


def server_container(parts: PodParts, *, port: int, resources: k8s.ResourceRequirements,
                     startup_timeout_seconds: int, liveness_initial_delay_seconds: int,
                     readiness_initial_delay_seconds: int) -> k8s.Container:
    """Container ``mysql``: the engine's server, run directly (not through the image's
    entrypoint: init-mysql initialized the data directory), setting its accounts from the
    init file at every start; and its probes, as the read-only status account over the socket."""
    engine = parts.engine
    return k8s.Container(
        name="mysql",
        image=parts.server_image,
        image_pull_policy=parts.pull,
        command=[engine.server],
        args=[f"--init-file={AUTH_DIR}/bootstrap.sql"],
        env=parts.env,
        env_from=parts.env_from,
        ports=[k8s.ContainerPort(name="mysql", container_port=port)],
        volume_mounts=[
            parts.datadir,
            parts.conf,
            parts.auth("server"),
            parts.run,
            parts.scripts,
            parts.tmp,
            parts.topology,
            parts.socket,
            *parts.certs,
        ],
        resources=resources,
        security_context=parts.security,
        # Before SIGTERM: the sidecar releases the server (a primary turns read-only first).
        lifecycle=pre_stop("server"),
        # The server answers at all: liveness and readiness wait for this (server-probe.sh
        # also fills the server's authentication cache, see there).
        startup_probe=exec_probe(
            [*script("server-probe.sh"), "startup"], period_seconds=2, timeout_seconds=5,
            failure_threshold=-(-startup_timeout_seconds // 2),
        ),
        # `ping` succeeds while the server runs, even when it is too busy to take a
        # login; six misses in a row (a minute) mean it hangs.
        liveness_probe=exec_probe(
            [*script("server-probe.sh"), "liveness"],
            initial_delay_seconds=liveness_initial_delay_seconds,
            period_seconds=10,
            timeout_seconds=5,
            failure_threshold=6,
        ),
        # Queries work and, on a replica, both replication threads run within the lag bound.
        # One client call; 5 s to answer, as liveness has: on a busy node a slower answer is
        # no failure (three in a row would take a healthy primary out of its Service).
        readiness_probe=exec_probe(
            script("readiness.sh"),
            initial_delay_seconds=readiness_initial_delay_seconds,
            period_seconds=2,
            timeout_seconds=5,
        ),
    )


def pre_stop(role: str) -> k8s.Lifecycle:
    """``pre-stop.sh ROLE`` before the container's SIGTERM (see the script)."""
    return k8s.Lifecycle(pre_stop=k8s.LifecycleHandler(exec=k8s.ExecAction(command=[*script("pre-stop.sh"), role])))


def replication_container(parts: PodParts) -> k8s.Container:
    """Sidecar ``replication``: accounts, replication, switchover, backup stream (see
    replication.sh)."""
    return k8s.Container(
        name="replication",
        image=parts.tools_image,
        image_pull_policy=parts.pull,
        command=script("replication.sh"),
        env=[*parts.env, k8s.EnvVar(name="MYSQL_HA_CONF_DIR", value=CONF_DIR)],
        env_from=parts.env_from,
        ports=[k8s.ContainerPort(name="clone", container_port=CLONE_PORT)] if parts.streams else None,
        volume_mounts=[parts.datadir, parts.conf, parts.auth("sidecar"), parts.run, parts.scripts, parts.tmp,
                       parts.topology, parts.socket, *parts.certs],
        resources=parts.sidecar_resources,
        security_context=parts.security,
        # Its watch loop runs on while the server's hook waits for it to release the server.
        lifecycle=pre_stop("sidecar"),
        # Ready once the account (primary) or the replication (replica) is set up.
        readiness_probe=exec_probe(["test", "-e", f"{RUN_DIR}/replication-ready"], period_seconds=1),
        # Once set up, its watch loop beats, and for backup-stream engines something listens on
        # the clone port (read from the socket table: a connection there would start a
        # backup). While it sets up (it waits for the server, however long its start
        # takes), the probe passes.
        liveness_probe=exec_probe(script("sidecar-liveness.sh"), period_seconds=20),
    )


def metrics_container(parts: PodParts, *, image: str, port: int) -> k8s.Container:
    """Sidecar ``metrics``: mysqld_exporter on ``METRICS_PORT``."""
    return k8s.Container(
        name="metrics",
        image=image,
        image_pull_policy=parts.pull,
        # init-mysql writes the option file from the Secret's metrics password (and,
        # with TLS on, ssl-ca: the exporter then speaks TLS to 127.0.0.1, which is
        # not among the certificate's names).
        args=[f"--config.my-cnf={AUTH_DIR}/exporter.cnf", f"--mysqld.address=127.0.0.1:{port}",
              *(["--tls.insecure-skip-verify"] if parts.tls is not None else [])],
        ports=[k8s.ContainerPort(name="metrics", container_port=METRICS_PORT)],
        volume_mounts=[parts.auth("metrics"), *parts.certs],
        resources=parts.sidecar_resources,
        security_context=parts.security,
        liveness_probe=k8s.Probe(http_get=k8s.HttpGetAction(
            path="/", port=k8s.IntOrString.from_string("metrics")), period_seconds=20),
        readiness_probe=k8s.Probe(http_get=k8s.HttpGetAction(
            path="/", port=k8s.IntOrString.from_string("metrics")), period_seconds=10),
    )


def secret_keys(parts: PodParts, config: MySQLConfig, *, metrics: bool) -> dict[str, str]:
    """The password files init-mysql reads, each with its key in the Secret."""
    credentials = config.credentials
    keys = {
        ROOT_PASSWORD_FILE: credentials.root_password_key,
        ADMIN_PASSWORD_FILE: credentials.admin_password_key,
        STATUS_PASSWORD_FILE: credentials.status_password_key,
        REPLICATION_PASSWORD_FILE: credentials.replication_password_key,
        CLONE_PASSWORD_FILE: credentials.clone_password_key,
    }
    if metrics:
        keys[METRICS_PASSWORD_FILE] = credentials.metrics_password_key
    if parts.engine.backup_grants:
        # Read when the Secret has it (MySQLBackup needs it; the set does not).
        keys[BACKUP_PASSWORD_FILE] = credentials.backup_password_key
    return keys


def volumes(parts: PodParts, *, config: MySQLConfig, set_name: str, metrics: bool) -> list[k8s.Volume]:
    """The pod's volumes besides its claim: scratch space, the ConfigMaps, the Secret's
    passwords (for init-mysql; a CLONE engine's clone container gets its own key alone), each
    container's option files in memory and, with TLS on, the certificate. The Secret's volume
    is optional: a missing key reaches init-mysql, which names it, instead of a pod that never
    starts."""
    credentials = config.credentials
    memory = k8s.EmptyDirVolumeSource(medium="Memory")
    return [
        k8s.Volume(name="conf", empty_dir=k8s.EmptyDirVolumeSource()),
        k8s.Volume(name="run", empty_dir=memory),
        k8s.Volume(name="socket", empty_dir=memory),
        k8s.Volume(name="tmp", empty_dir=k8s.EmptyDirVolumeSource()),
        *[k8s.Volume(name=f"{volume}-auth", empty_dir=memory) for volume in AUTH_VOLUMES
          if metrics or volume != "metrics"],
        k8s.Volume(name="config-map", config_map=k8s.ConfigMapVolumeSource(name=config.config_map.name)),
        k8s.Volume(name="topology", config_map=k8s.ConfigMapVolumeSource(name=f"{set_name}-topology")),
        k8s.Volume(
            name="scripts",
            config_map=k8s.ConfigMapVolumeSource(name=config.scripts_config_map.name, default_mode=0o555),
        ),
        k8s.Volume(
            name="credentials",
            secret=k8s.SecretVolumeSource(
                secret_name=credentials.secret_name,
                default_mode=0o440,
                optional=True,
                items=[k8s.KeyToPath(key=key, path=path)
                       for path, key in secret_keys(parts, config, metrics=metrics).items()],
            ),
        ),
        *([] if parts.streams else [k8s.Volume(
            name="clone-credentials",
            secret=k8s.SecretVolumeSource(
                secret_name=credentials.secret_name,
                default_mode=0o440,
                optional=True,
                items=[k8s.KeyToPath(key=credentials.clone_password_key, path=CLONE_PASSWORD_FILE)],
            ),
        )]),
    ]


def tls_volume(tls: MySQLTLS, set_name: str) -> k8s.Volume:
    """The certificate's Secret, for the containers that talk to a server or a clone stream."""
    return k8s.Volume(
        name="tls",
        secret=k8s.SecretVolumeSource(
            secret_name=tls.secret_for(set_name),
            default_mode=0o440,
            items=[k8s.KeyToPath(key=key, path=key) for key in (CERT_KEY, KEY_KEY, CA_KEY)],
        ),
    )
