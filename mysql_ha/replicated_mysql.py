"""ReplicatedMySQL: the StatefulSet of one primary and its read-only replicas."""

from __future__ import annotations

from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _validation as check
from ._k8s import LABEL_COMPONENT
from .local_storage import LocalStorage
from .mysql_config import MySQLConfig
from .read_write_services import ReadWriteServices

CLONE_PORT = 3307
MAX_SERVER_ID = 2**32 - 1

# Where the pod's volumes are mounted: the scripts receive these paths as variables.
DATA_ROOT = "/data"  # the whole PVC, in the clone init container only
DATADIR = "/var/lib/mysql"  # the PVC's "mysql" directory, in every other container
DATA_SUBPATH = "mysql"
CONF_DIR = "/etc/mysql/conf.d"  # generated configuration, read by the server
CONF_INIT_DIR = "/mnt/conf.d"  # the same emptyDir, where init-mysql writes it
CONFIG_MAP_DIR = "/mnt/config-map"
SECRET_DIR = "/etc/mysql-ha/credentials"
RUN_DIR = "/run/mysql-ha"  # in-memory: client option file and readiness markers
SCRIPTS_DIR = "/opt/mysql-ha"
ROOT_PASSWORD_FILE = "root-password"
REPLICATION_PASSWORD_FILE = "replication-password"


class ReplicatedMySQL(Construct):
    """A StatefulSet whose ordinal 0 is the primary and every other pod a read-only replica.

    Start-up of pod N (OrderedReady: pod N starts once pods 0..N-1 are ready):

    1. ``clone-mysql`` (init): on a replica with no data yet, streams a hot backup of pod
       N-1 over port 3307 into a staging directory, prepares it, records the binlog
       coordinates, and renames it into place: a half-done clone is never taken for data.
    2. ``init-mysql`` (init): picks ``primary.cnf`` or ``replica.cnf``, sets
       ``server-id = server_id_base + N``, writes the client option file from the Secret.
    3. ``mysql``: the server, from the engine's image and entrypoint.
    4. ``replication`` (sidecar): on the primary, creates the replication account; on a
       fresh replica, points it at ``{name}-0.{name}`` from the clone's coordinates and
       starts it; then serves backups to the next pod on port 3307.

    :param config: the ConfigMaps and credentials (and the engine).
    :param storage: the StorageClass and volumes for the PVCs.
    :param services: the Services; the StatefulSet takes their ``name``.
    :param replicas: number of pods, primary included. Defaults to 2. With static local
        storage at most one per PersistentVolume.
    :param storage_request: PVC size, a quantity, at most the PV capacity. Defaults to ``3Gi``.
    :param cpu_request: CPU request of the server container. Defaults to ``500m``.
    :param memory_request: memory request of the server container. Defaults to ``1Gi``.
    :param server_id_base: server-id of ordinal 0; pod N gets base + N. Defaults to 100.
    :param liveness_initial_delay_seconds: defaults to 30 (then every 10 s, 5 s timeout).
    :param readiness_initial_delay_seconds: defaults to 5 (then every 2 s, 1 s timeout).
    :param startup_timeout_seconds: how long a first start (initialization, clone recovery)
        may take before liveness applies. Defaults to 300.
    :param server_image: overrides the engine's server image. Defaults to the engine's.
    :param tools_image: overrides the engine's clone/sidecar image. Defaults to the engine's.
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
        server_id_base: int = 100,
        liveness_initial_delay_seconds: int = 30,
        readiness_initial_delay_seconds: int = 5,
        startup_timeout_seconds: int = 300,
        server_image: str | None = None,
        tools_image: str | None = None,
    ) -> None:
        super().__init__(scope, id)
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
        check.quantity("cpu_request", cpu_request)
        check.quantity("memory_request", memory_request)
        check.int_range("server_id_base", server_id_base, 1, MAX_SERVER_ID - 100, "server-id is 1 to 2^32-1")
        for prop, value in (
            ("liveness_initial_delay_seconds", liveness_initial_delay_seconds),
            ("readiness_initial_delay_seconds", readiness_initial_delay_seconds),
        ):
            check.int_range(prop, value, 0, 3600)
        check.int_range("startup_timeout_seconds", startup_timeout_seconds, 10, 86400)
        engine = config.engine
        server_image = engine.server_image if server_image is None else _image("server_image", server_image)
        tools_image = engine.tools_image if tools_image is None else _image("tools_image", tools_image)

        self.config = config
        self.services = services
        self.name = services.name
        labels = {**services.selector, LABEL_COMPONENT: "database"}

        env = [
            k8s.EnvVar(name=name, value=value)
            for name, value in (
                ("MYSQL_HA_SERVICE", services.name),
                ("MYSQL_HA_PORT", str(services.port)),
                ("MYSQL_HA_CLONE_PORT", str(CLONE_PORT)),
                ("MYSQL_HA_SERVER_ID_BASE", str(server_id_base)),
                ("MYSQL_HA_DATADIR", DATADIR),
                ("MYSQL_HA_RUN_DIR", RUN_DIR),
                ("MYSQL_HA_SECRET_DIR", SECRET_DIR),
                ("MYSQL_HA_SCRIPTS_DIR", SCRIPTS_DIR),
            )
        ]
        env_from = [k8s.EnvFromSource(config_map_ref=k8s.ConfigMapEnvSource(name=config.env_config_map.name))]
        scripts = k8s.VolumeMount(name="scripts", mount_path=SCRIPTS_DIR, read_only=True)
        secret = k8s.VolumeMount(name="credentials", mount_path=SECRET_DIR, read_only=True)
        run = k8s.VolumeMount(name="run", mount_path=RUN_DIR)
        datadir = k8s.VolumeMount(name="data", mount_path=DATADIR, sub_path=DATA_SUBPATH)
        conf = k8s.VolumeMount(name="conf", mount_path=CONF_DIR)

        def script(name: str) -> list[str]:
            return ["bash", f"{SCRIPTS_DIR}/{name}"]

        def exec_probe(command: list[str], **timing: int) -> k8s.Probe:
            return k8s.Probe(exec=k8s.ExecAction(command=command), **timing)

        admin_ping = [engine.admin, f"--defaults-extra-file={RUN_DIR}/client.cnf", "ping"]
        clone = k8s.Container(
            name="clone-mysql",
            image=tools_image,
            command=script("clone.sh"),
            env=[*env, k8s.EnvVar(name="MYSQL_HA_DATA_ROOT", value=DATA_ROOT)],
            env_from=env_from,
            volume_mounts=[k8s.VolumeMount(name="data", mount_path=DATA_ROOT), scripts],
        )
        init = k8s.Container(
            name="init-mysql",
            image=server_image,
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
            ],
        )
        server = k8s.Container(
            name="mysql",
            image=server_image,
            env=[*env, k8s.EnvVar(name=engine.root_password_file_env, value=f"{SECRET_DIR}/{ROOT_PASSWORD_FILE}")],
            env_from=env_from,
            ports=[k8s.ContainerPort(name="mysql", container_port=services.port)],
            volume_mounts=[datadir, conf, secret, run, scripts],
            resources=k8s.ResourceRequirements(
                requests={
                    "cpu": k8s.Quantity.from_string(cpu_request),
                    "memory": k8s.Quantity.from_string(memory_request),
                }
            ),
            startup_probe=exec_probe(
                admin_ping, period_seconds=2, timeout_seconds=5, failure_threshold=-(-startup_timeout_seconds // 2)
            ),
            liveness_probe=exec_probe(
                admin_ping, initial_delay_seconds=liveness_initial_delay_seconds, period_seconds=10, timeout_seconds=5
            ),
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
            command=script("replication.sh"),
            env=env,
            env_from=env_from,
            ports=[k8s.ContainerPort(name="clone", container_port=CLONE_PORT)],
            volume_mounts=[datadir, conf, secret, run, scripts],
            resources=k8s.ResourceRequirements(
                requests={"cpu": k8s.Quantity.from_string("100m"), "memory": k8s.Quantity.from_string("100Mi")}
            ),
            readiness_probe=exec_probe(["test", "-e", f"{RUN_DIR}/replication-ready"], period_seconds=2),
        )
        self.stateful_set = k8s.KubeStatefulSet(
            self,
            "StatefulSet",
            metadata=k8s.ObjectMeta(name=self.name, labels=labels),
            spec=k8s.StatefulSetSpec(
                service_name=services.headless.name,
                replicas=self.replicas,
                pod_management_policy="OrderedReady",
                update_strategy=k8s.StatefulSetUpdateStrategy(type="RollingUpdate"),
                selector=k8s.LabelSelector(match_labels=dict(services.selector)),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels),
                    spec=k8s.PodSpec(
                        init_containers=[clone, init],
                        containers=[server, sidecar],
                        security_context=k8s.PodSecurityContext(fs_group=999),
                        volumes=[
                            k8s.Volume(name="conf", empty_dir=k8s.EmptyDirVolumeSource()),
                            k8s.Volume(name="run", empty_dir=k8s.EmptyDirVolumeSource(medium="Memory")),
                            k8s.Volume(
                                name="config-map",
                                config_map=k8s.ConfigMapVolumeSource(name=config.config_map.name),
                            ),
                            k8s.Volume(
                                name="scripts",
                                config_map=k8s.ConfigMapVolumeSource(
                                    name=config.scripts_config_map.name, default_mode=0o555
                                ),
                            ),
                            k8s.Volume(
                                name="credentials",
                                secret=k8s.SecretVolumeSource(
                                    secret_name=config.credentials.secret_name,
                                    default_mode=0o440,
                                    items=[
                                        k8s.KeyToPath(key=config.credentials.root_password_key, path=ROOT_PASSWORD_FILE),
                                        k8s.KeyToPath(
                                            key=config.credentials.replication_password_key,
                                            path=REPLICATION_PASSWORD_FILE,
                                        ),
                                    ],
                                ),
                            ),
                        ],
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

    @property
    def primary_host(self) -> str:
        """DNS name of the primary, for writes: ``{name}-0.{name}``."""
        return self.services.primary_host

    @property
    def read_host(self) -> str:
        """DNS name of the read Service, for reads from any ready pod."""
        return self.services.read_host


def _image(prop: str, value: object) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(f"{prop} must be an image reference such as 'mysql:8.4', got {value!r}")
    return value
