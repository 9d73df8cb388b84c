"""ReplicatedMySQL: the StatefulSet of one primary and its read-only replicas."""

from __future__ import annotations

import pytest
from synth_helpers import (add_stack, all_containers, by_kind, config_map, container, env_of, new_chart,
                           password_credentials, pod_spec, synth)

import mysql_ha

SELECTOR = {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql"}


def stack_manifests(**props):
    chart = new_chart()
    mysql = add_stack(chart, **props)
    return mysql, synth(chart)


@pytest.fixture(scope="module")
def manifests():
    return stack_manifests()[1]


def test_snapshot(yaml_snapshot):
    _, manifests = stack_manifests()
    assert by_kind(manifests, "StatefulSet") == yaml_snapshot


def test_stateful_set_spec(manifests):
    stateful_set = by_kind(manifests, "StatefulSet", "mysql")
    assert stateful_set["apiVersion"] == "apps/v1"
    assert stateful_set["metadata"]["namespace"] == "mysql"
    spec = stateful_set["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["replicas"] == 2
    assert spec["serviceName"] == "mysql"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["selector"] == {"matchLabels": SELECTOR}


def test_pod_labels_match_the_selector_and_the_services(manifests):
    stateful_set = by_kind(manifests, "StatefulSet", "mysql")
    labels = stateful_set["spec"]["template"]["metadata"]["labels"]
    assert labels.items() >= stateful_set["spec"]["selector"]["matchLabels"].items()
    for service in by_kind(manifests, "Service"):
        selector = {k: v for k, v in service["spec"]["selector"].items() if k != "statefulset.kubernetes.io/pod-name"}
        assert labels.items() >= selector.items(), service["metadata"]["name"]
    assert all(not key.startswith("cdk8s.io") for key in labels)


def test_headless_service_is_the_governing_service(manifests):
    stateful_set = by_kind(manifests, "StatefulSet", "mysql")
    headless = by_kind(manifests, "Service", stateful_set["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"


def test_containers_in_order(manifests):
    spec = pod_spec(manifests)
    assert [c["name"] for c in spec["initContainers"]] == ["clone-mysql", "init-mysql"]
    assert [c["name"] for c in spec["containers"]] == ["mysql", "replication"]


def test_scripts_run_from_the_scripts_volume(manifests):
    assert container(manifests, "clone-mysql")["command"] == ["bash", "/opt/mysql-ha/clone.sh"]
    assert container(manifests, "init-mysql")["command"] == ["bash", "/opt/mysql-ha/init-config.sh"]
    assert container(manifests, "replication")["command"] == ["bash", "/opt/mysql-ha/replication.sh"]
    # The server runs directly, not through its image's entrypoint (init-mysql initializes an
    # empty data directory), and sets the set's accounts from its init file at every start.
    assert container(manifests, "mysql")["command"] == ["mysqld"]
    assert container(manifests, "mysql")["args"] == ["--init-file=/etc/mysql-ha/auth/bootstrap.sql"]


def test_volume_claim_template(manifests):
    (claim,) = by_kind(manifests, "StatefulSet", "mysql")["spec"]["volumeClaimTemplates"]
    assert claim["metadata"] == {"name": "data"}
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "3Gi"}},
        "storageClassName": "local-storage",
    }


def test_server_container_resources_and_image(manifests):
    server = container(manifests, "mysql")
    assert server["image"] == "mysql:8.4"
    assert server["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    # No CPU limit by default (throttling stalls a database); memory is capped at the request.
    assert "cpu" not in server["resources"].get("limits", {})
    assert server["resources"]["limits"]["memory"] == "1Gi"
    assert server["ports"] == [{"containerPort": 3306, "name": "mysql"}]


def test_probe_commands_and_timings(manifests):
    server = container(manifests, "mysql")
    liveness, readiness = server["livenessProbe"], server["readinessProbe"]
    # The server answers its admin tool's ping (server-probe.sh; tests/test_scripts_probes.py).
    assert liveness["exec"]["command"] == ["bash", "/opt/mysql-ha/server-probe.sh", "liveness"]
    assert server["startupProbe"]["exec"]["command"] == ["bash", "/opt/mysql-ha/server-probe.sh", "startup"]
    assert readiness["exec"]["command"] == ["bash", "/opt/mysql-ha/readiness.sh"]
    assert (liveness["periodSeconds"], liveness["timeoutSeconds"]) == (10, 5)
    assert (readiness["periodSeconds"], readiness["timeoutSeconds"]) == (2, 5)
    # A startup probe holds both back until the server first answers.
    assert "startupProbe" in server


def test_walkthrough_probe_delays():
    _, manifests = stack_manifests(liveness_initial_delay_seconds=30, readiness_initial_delay_seconds=5)
    server = container(manifests, "mysql")
    liveness, readiness = server["livenessProbe"], server["readinessProbe"]
    assert (liveness["initialDelaySeconds"], liveness["periodSeconds"], liveness["timeoutSeconds"]) == (30, 10, 5)
    assert (readiness["initialDelaySeconds"], readiness["periodSeconds"], readiness["timeoutSeconds"]) == (5, 2, 5)


@pytest.mark.parametrize("timeout", [10, 300, 301, 3600])
def test_startup_probe_allows_the_startup_timeout(timeout):
    _, manifests = stack_manifests(startup_timeout_seconds=timeout)
    startup = container(manifests, "mysql")["startupProbe"]
    assert startup["exec"]["command"][-1] == "startup"
    allowed = startup["failureThreshold"] * startup["periodSeconds"]
    assert timeout <= allowed < timeout + startup["periodSeconds"]


def test_every_container_gets_the_common_environment(manifests):
    for each in all_containers(manifests):
        env = env_of(each)
        assert env["MYSQL_HA_SERVER_ID_BASE"] == "100", each["name"]
        assert env["MYSQL_HA_SERVICE"] == "mysql"
        assert env["MYSQL_HA_PORT"] == "3306"
        assert env["MYSQL_HA_CLONE_PORT"] == "3307"
        assert env["MYSQL_HA_SCRIPTS_DIR"] == "/opt/mysql-ha"
        assert each["envFrom"] == [{"configMapRef": {"name": config_map(manifests, "mysql-env")["metadata"]["name"]}}]


def test_server_runs_the_engine_s_server_with_its_init_file_and_no_password(engine):
    _, manifests = stack_manifests(engine=engine)
    server = container(manifests, "mysql")
    assert server["command"] == [engine.server]
    assert server["args"] == ["--init-file=/etc/mysql-ha/auth/bootstrap.sql"]
    # No password, nor a path to one, through the environment (the image's entrypoint read
    # MYSQL_ROOT_PASSWORD_FILE; it no longer runs).
    assert not [e["name"] for e in server.get("env", []) if "PASSWORD" in e["name"]]
    assert all("valueFrom" not in e for e in server.get("env", []))
    assert server["envFrom"] == [{"configMapRef": {"name": config_map(manifests, "mysql-env")["metadata"]["name"]}}]
    # The init file and the probes' option file come from its own in-memory volume.
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["server-auth"] == {"name": "server-auth", "mountPath": "/etc/mysql-ha/auth", "readOnly": True}
    assert "credentials" not in mounts


def test_init_mysql_reads_every_password_of_the_secret(engine):
    """One optional Secret volume, for init-mysql: a missing key reaches init-config.sh, which
    names it, instead of a pod stuck before its first container."""
    _, manifests = stack_manifests(engine=engine)
    credentials = next(v for v in pod_spec(manifests)["volumes"] if v["name"] == "credentials")
    # The backup account's password, where a backup Job logs in (read when the Secret has it).
    backup = [{"key": "backup-password", "path": "backup-password"}] if engine.backup_grants else []
    assert credentials["secret"] == {
        "secretName": "mysql-credentials",
        "defaultMode": 0o440,
        "optional": True,
        "items": [
            {"key": "root-password", "path": "root-password"},
            {"key": "admin-password", "path": "admin-password"},
            {"key": "status-password", "path": "status-password"},
            {"key": "replication-password", "path": "replication-password"},
            {"key": "clone-password", "path": "clone-password"},
            *backup,
        ],
    }
    env = env_of(container(manifests, "init-mysql"))
    assert env["MYSQL_HA_SECRET_NAME"] == "mysql-credentials"
    assert env["MYSQL_HA_SECRET_KEYS"].split() == [f"{item['path']}={item['key']}"
                                                   for item in credentials["secret"]["items"]]


def test_volumes(manifests):
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    assert {"conf", "run", "config-map", "scripts", "credentials", "server-auth", "sidecar-auth"} <= set(volumes)
    assert volumes["conf"]["emptyDir"] == {}
    assert volumes["run"]["emptyDir"] == {"medium": "Memory"}
    # Option files and the init file live in memory only, one volume per reader; the
    # exporter's only with metrics on.
    assert volumes["server-auth"]["emptyDir"] == {"medium": "Memory"}
    assert volumes["sidecar-auth"]["emptyDir"] == {"medium": "Memory"}
    assert "metrics-auth" not in volumes
    assert volumes["config-map"]["configMap"] == {"name": config_map(manifests, "mysql")["metadata"]["name"]}
    assert volumes["scripts"]["configMap"] == {"name": config_map(manifests, "mysql-scripts")["metadata"]["name"],
                                               "defaultMode": 0o555}
    # Only the PVC outlives the pod.
    assert all("emptyDir" in v or "configMap" in v or "secret" in v for v in volumes.values())


def test_data_volume_mounts(manifests):
    def mounts(name):
        return {m["mountPath"]: m for m in container(manifests, name)["volumeMounts"]}

    assert mounts("clone-mysql")["/data"] == {"mountPath": "/data", "name": "data"}
    # init-mysql initializes an empty data directory beside the final one and renames it
    # into place: it needs the claim's root, writable.
    assert mounts("init-mysql")["/data"] == {"mountPath": "/data", "name": "data"}
    assert "/var/lib/mysql" not in mounts("init-mysql")
    for name in ("mysql", "replication"):
        data = mounts(name)["/var/lib/mysql"]
        assert (data["name"], data["subPath"]) == ("data", "mysql"), name
    # The server's configuration path in both: the initialization reads what the server will.
    assert mounts("mysql")["/etc/mysql/conf.d"] == {"mountPath": "/etc/mysql/conf.d", "name": "conf"}
    assert mounts("init-mysql")["/etc/mysql/conf.d"] == {"mountPath": "/etc/mysql/conf.d", "name": "conf"}
    assert env_of(container(manifests, "init-mysql"))["MYSQL_HA_CONF_DIR"] == "/etc/mysql/conf.d"
    assert env_of(container(manifests, "init-mysql"))["MYSQL_HA_DATA_ROOT"] == "/data"
    assert "/mnt/conf.d" not in mounts("init-mysql")


def test_init_mysql_writes_each_container_s_option_files_to_its_own_volume():
    _, manifests = stack_manifests(metrics=True, credentials=password_credentials("metrics_password"))
    init = container(manifests, "init-mysql")
    assert env_of(init)["MYSQL_HA_AUTH_INIT_DIR"] == "/mnt/auth"
    auth = [(m["name"], m["mountPath"], m.get("readOnly", False)) for m in init["volumeMounts"]
            if m["name"].endswith("-auth")]
    assert auth == [("server-auth", "/mnt/auth/server", False), ("sidecar-auth", "/mnt/auth/sidecar", False),
                    ("metrics-auth", "/mnt/auth/metrics", False)]
    # Each reader sees its own volume, read-only, at the same path.
    for name, volume in (("mysql", "server-auth"), ("replication", "sidecar-auth"), ("metrics", "metrics-auth")):
        (mount,) = [m for m in container(manifests, name)["volumeMounts"] if m["name"].endswith("-auth")]
        assert mount == {"name": volume, "mountPath": "/etc/mysql-ha/auth", "readOnly": True}, name
    for each in all_containers(manifests):
        if each["name"] not in ("init-mysql", "mysql", "replication", "metrics"):
            assert not [m for m in each["volumeMounts"] if m["name"].endswith("-auth")], each["name"]


def test_the_sidecar_talks_to_its_server_over_the_socket(engine):
    _, manifests = stack_manifests(engine=engine)
    for name in ("mysql", "replication"):
        mounts = {m["name"]: m for m in container(manifests, name)["volumeMounts"]}
        assert mounts["socket"] == {"name": "socket", "mountPath": engine.socket_dir}, name
    env = config_map(manifests, "mysql-env")["data"]
    assert env["MYSQL_HA_SOCKET"] == f"{engine.socket_dir}/mysqld.sock" == engine.socket


def test_engine_images(engine):
    _, manifests = stack_manifests(engine=engine)
    assert container(manifests, "mysql")["image"] == engine.server_image
    assert container(manifests, "init-mysql")["image"] == engine.server_image
    assert container(manifests, "clone-mysql")["image"] == engine.tools_image
    assert container(manifests, "replication")["image"] == engine.tools_image
    env = config_map(manifests, "mysql-env")["data"]
    assert (env["MYSQL_HA_ADMIN"], env["MYSQL_HA_CLIENT"]) == (engine.admin, engine.client)


def test_props_reach_the_stateful_set():
    mysql, manifests = stack_manifests(
        replicas=3, storage_request="15Gi", cpu_request="1", memory_request="2Gi", server_id_base=1000,
        liveness_initial_delay_seconds=60, readiness_initial_delay_seconds=10,
        memory_limit="3Gi", cpu_limit="2",
        server_image="registry.example/mysql:8.4.3", tools_image="registry.example/tools:1",
    )
    spec = by_kind(manifests, "StatefulSet", "mysql")["spec"]
    assert spec["replicas"] == 3
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "15Gi"
    server = container(manifests, "mysql")
    assert server["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}}
    assert server["image"] == "registry.example/mysql:8.4.3"
    assert container(manifests, "replication")["image"] == "registry.example/tools:1"
    assert env_of(server)["MYSQL_HA_SERVER_ID_BASE"] == "1000"
    assert server["livenessProbe"]["initialDelaySeconds"] == 60
    assert server["readinessProbe"]["initialDelaySeconds"] == 10
    assert mysql.replicas == 3


def test_dynamic_storage_allows_more_replicas_than_local_volumes():
    _, manifests = stack_manifests(storage={"storage_class_name": "standard", "dynamic": True}, replicas=5)
    spec = by_kind(manifests, "StatefulSet", "mysql")["spec"]
    assert spec["replicas"] == 5
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard"
    assert by_kind(manifests, "PersistentVolume") == []


def test_name_comes_from_the_services():
    mysql, manifests = stack_manifests(services={"name": "orders"})
    stateful_set = by_kind(manifests, "StatefulSet", "orders")
    assert stateful_set["spec"]["serviceName"] == "orders"
    assert env_of(container(manifests, "replication"))["MYSQL_HA_SERVICE"] == "orders"
    assert mysql.primary_host == "orders-0.orders"
    assert mysql.read_host == "orders-read"


def test_secret_name_and_keys_come_from_the_credentials():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret(
        "vault-mysql", root_password_key="root", replication_password_key="repl", replication_user="replicator",
        clone_password_key="seed", admin_password_key="sidecar", status_password_key="probe",
        backup_password_key="copy", metrics_password_key="exporter",
    )
    _, manifests = stack_manifests(credentials=credentials, metrics=True)
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    secret = volumes["credentials"]["secret"]
    assert secret["secretName"] == "vault-mysql"
    assert secret["items"] == [
        {"key": "root", "path": "root-password"},
        {"key": "sidecar", "path": "admin-password"},
        {"key": "probe", "path": "status-password"},
        {"key": "repl", "path": "replication-password"},
        {"key": "seed", "path": "clone-password"},
        {"key": "exporter", "path": "metrics-password"},
        {"key": "copy", "path": "backup-password"},
    ]
    assert volumes["clone-credentials"]["secret"]["secretName"] == "vault-mysql"
    assert volumes["clone-credentials"]["secret"]["items"] == [{"key": "seed", "path": "clone-password"}]
    # A missing key is named by its name in this Secret.
    env = env_of(container(manifests, "init-mysql"))
    assert env["MYSQL_HA_SECRET_NAME"] == "vault-mysql"
    assert "admin-password=sidecar" in env["MYSQL_HA_SECRET_KEYS"].split()


def test_no_probe_connects_to_the_clone_port(manifests):
    # Every connection to the clone port runs backup-stream.sh (a hot backup of the server).
    for each in all_containers(manifests):
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            for action in ("tcpSocket", "httpGet", "grpc"):
                port = each.get(probe, {}).get(action, {}).get("port")
                assert port not in (3307, "clone"), f"{each['name']} {probe} {action} connects to the clone port"


# --- clone method: what the pods need for it ------------------------------------------------


def mounts_of(manifests, name):
    return {m["mountPath"]: m["name"] for m in container(manifests, name)["volumeMounts"]}


def test_clone_container_reads_the_clone_password_alone_with_the_clone_plugin(engine):
    _, manifests = stack_manifests(engine=engine)
    mounts = mounts_of(manifests, "clone-mysql")
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    assert "credentials" not in mounts.values()
    if engine.serves_backup_streams:
        # The donor's sidecar serves the copy: the new replica logs in nowhere.
        assert "clone-credentials" not in mounts.values()
        assert "clone-credentials" not in volumes
    else:
        assert mounts["/etc/mysql-ha/credentials"] == "clone-credentials"
        assert volumes["clone-credentials"]["secret"] == {
            "secretName": "mysql-credentials", "defaultMode": 0o440, "optional": True,
            "items": [{"key": "clone-password", "path": "clone-password"}],
        }
    assert mounts["/data"] == "data"


def test_clone_port_only_for_backup_stream_engines(engine):
    _, manifests = stack_manifests(engine=engine)
    sidecar = container(manifests, "replication")
    policy = by_kind(manifests, "NetworkPolicy", "mysql")
    ports = [port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]]
    if engine.serves_backup_streams:
        assert sidecar["ports"] == [{"containerPort": 3307, "name": "clone"}]
        assert ports == [3306, 3307]
        (clone_rule,) = [rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == 3307]
        assert clone_rule["from"] == [{"podSelector": {"matchLabels": SELECTOR}}]  # the set only
    else:
        # The CLONE plugin copies over the server port: nothing listens on 3307.
        assert "ports" not in sidecar
        assert ports == [3306]


def test_sidecar_liveness_checks_the_watch_loop(engine):
    _, manifests = stack_manifests(engine=engine)
    liveness = container(manifests, "replication")["livenessProbe"]
    assert liveness["exec"]["command"] == ["bash", "/opt/mysql-ha/sidecar-liveness.sh"]
    assert liveness["periodSeconds"] == 20
    # The script reads the heartbeat the watch loop writes to the run volume.
    assert "/run/mysql-ha" in mounts_of(manifests, "replication")


def test_default_exporter_reads_mysql_8_4_replica_status():
    """mysqld_exporter before 0.16.0 runs SHOW SLAVE STATUS, which MySQL 8.4 removed."""
    _, manifests = stack_manifests(credentials=password_credentials("metrics_password"), metrics=True)
    image = container(manifests, "metrics")["image"]
    repository, tag = image.rsplit(":", 1)
    assert repository == "prom/mysqld-exporter"
    version = tuple(int(part) for part in tag.lstrip("v").split("."))
    assert version >= (0, 16, 0), image


# --- the declared primary and semi-sync --------------------------------------------------------


def topology(manifests):
    return by_kind(manifests, "ConfigMap", "mysql-topology")["data"]


def test_declared_primary_defaults_to_ordinal_0_with_semi_sync_on(manifests):
    data = topology(manifests)
    assert data["primary-ordinal"] == "0"
    assert data["semi-sync.cnf"].splitlines()[1:] == [
        "[mysqld]",
        "loose-rpl_semi_sync_source_enabled=ON",
        "loose-rpl_semi_sync_replica_enabled=ON",
        "loose-rpl_semi_sync_source_timeout=10000",
        "loose-rpl_semi_sync_source_wait_for_replica_count=1",
        "loose-rpl_semi_sync_source_wait_point=AFTER_SYNC",
    ]
    selector = by_kind(manifests, "Service", "mysql-primary")["spec"]["selector"]
    assert selector["statefulset.kubernetes.io/pod-name"] == "mysql-0"


def test_every_container_reads_the_topology_from_a_whole_config_map_volume(manifests):
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    assert volumes["topology"]["configMap"] == {"name": "mysql-topology"}
    for each in all_containers(manifests):
        if each["name"] == "metrics":
            continue
        (mount,) = [m for m in each["volumeMounts"] if m["name"] == "topology"]
        # No subPath: the kubelet updates the files of a running pod only without one.
        assert mount == {"name": "topology", "mountPath": "/etc/mysql-ha/topology", "readOnly": True}


def test_primary_ordinal_moves_the_write_service_and_primary_host_not_the_pods():
    mysql, moved = stack_manifests(replicas=3, primary_ordinal=2)
    _, default = stack_manifests(replicas=3)
    assert topology(moved)["primary-ordinal"] == "2"
    assert mysql.primary_host == "mysql-2.mysql"
    selector = by_kind(moved, "Service", "mysql-primary")["spec"]["selector"]
    assert selector["statefulset.kubernetes.io/pod-name"] == "mysql-2"
    # A switchover is an apply of the ConfigMap and the Service: the pods do not restart.
    assert by_kind(moved, "StatefulSet") == by_kind(default, "StatefulSet")


def test_semi_sync_is_off_without_a_replica_and_on_request_off():
    _, single = stack_manifests(replicas=1)
    assert "rpl_semi_sync" not in topology(single)["semi-sync.cnf"]
    _, off = stack_manifests(replicas=3, semi_sync=False)
    assert "rpl_semi_sync" not in topology(off)["semi-sync.cnf"]
    mysql, tuned = stack_manifests(replicas=3, semi_sync_acknowledgements=2, semi_sync_timeout_seconds=600)
    assert mysql.semi_sync
    text = topology(tuned)["semi-sync.cnf"]
    assert "loose-rpl_semi_sync_source_wait_for_replica_count=2" in text
    assert "loose-rpl_semi_sync_source_timeout=600000" in text


def test_mariadb_semi_sync_is_built_in():
    _, manifests = stack_manifests(engine=mysql_ha.MARIADB_11_4)
    assert topology(manifests)["semi-sync.cnf"].splitlines()[2:] == [
        "rpl_semi_sync_master_enabled=ON",
        "rpl_semi_sync_slave_enabled=ON",
        "rpl_semi_sync_master_timeout=10000",
        "rpl_semi_sync_master_wait_point=AFTER_SYNC",
    ]


@pytest.mark.parametrize("props, message", [
    ({"primary_ordinal": 2}, r"primary_ordinal must be an integer between 0 and 1 \(a pod of the 2-pod set\), got 2"),
    ({"primary_ordinal": -1}, "primary_ordinal must be an integer between 0 and 1"),
    ({"engine": mysql_ha.MYSQL_5_7, "primary_ordinal": 1}, "primary_ordinal must be 0 for engine mysql-5.7"),
    ({"engine": mysql_ha.MYSQL_5_7, "semi_sync": True}, "semi_sync=True is not offered for engine mysql-5.7"),
    ({"replicas": 1, "semi_sync": True}, "semi_sync=True needs a replica to acknowledge"),
    ({"semi_sync_acknowledgements": 2}, "semi_sync_acknowledgements must be an integer between 1 and 1"),
    ({"engine": mysql_ha.MARIADB_11_4, "replicas": 3, "semi_sync_acknowledgements": 2},
     "waits for exactly one acknowledgement"),
    ({"semi_sync_timeout_seconds": 0}, "semi_sync_timeout_seconds must be an integer between 1 and 86400"),
    ({"semi_sync": "yes"}, "semi_sync must be True, False or None"),
])
def test_invalid_topology_props_are_refused(props, message):
    with pytest.raises(ValueError, match=message):
        stack_manifests(**props)


def test_mysql_5_7_keeps_ordinal_0_without_semi_sync():
    _, manifests = stack_manifests(engine=mysql_ha.MYSQL_5_7)
    assert topology(manifests)["primary-ordinal"] == "0"
    assert "rpl_semi_sync" not in topology(manifests)["semi-sync.cnf"]


def test_what_pods_read_when_made_is_in_the_template_and_the_declared_primary_is_not():
    def template(**props):
        return by_kind(stack_manifests(**props)[1], "StatefulSet", "mysql")["spec"]["template"]

    base = template(replicas=3)
    annotation = base["metadata"]["annotations"]["mysql-ha/semi-sync"]
    assert len(annotation) == 10 and int(annotation, 16) >= 0
    # A new declared primary reaches the pods at run time: no rollout.
    assert template(replicas=3, primary_ordinal=1) == base
    # Semi-sync settings and server settings are read when a pod is made: a new template.
    assert template(replicas=3, semi_sync_timeout_seconds=20)["metadata"]["annotations"]["mysql-ha/semi-sync"] != annotation
    settings = template(replicas=3, config={"server_settings": {"max_connections": "500"}})
    assert settings["spec"]["volumes"] != base["spec"]["volumes"]
    assert settings["spec"]["containers"][0]["envFrom"] == base["spec"]["containers"][0]["envFrom"]


def test_the_sidecar_liveness_probe_does_not_wait_for_the_server_s_startup_budget():
    _, manifests = stack_manifests(startup_timeout_seconds=7200)
    probe = container(manifests, "replication")["livenessProbe"]
    assert "initialDelaySeconds" not in probe and probe["periodSeconds"] == 20
    startup = container(manifests, "mysql")["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 7200
