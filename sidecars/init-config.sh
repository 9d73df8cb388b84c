#!/usr/bin/env bash
# Init container "init-mysql" (the server's image): everything the server and the sidecars
# need before the server starts.
#   - the declared primary (topology ConfigMap) gets primary.cnf, every other pod
#     replica.cnf; every pod gets the semi-sync settings, as any may become the primary,
#     with the source side off until the sidecar turns it on on the primary;
#   - server-id = MYSQL_HA_SERVER_ID_BASE + ordinal;
#   - every server starts read-only with replication stopped (start.cnf), whatever its role
#     was: the declared primary may have changed while it was down, and a server that
#     restarts (kill -9, OOM, liveness) must not take writes nor replicate from a stale source
#     before the replication sidecar has checked. The sidecar makes the declared primary
#     writable and starts replication (replication.sh);
#   - an empty data directory (the declared primary of a new set) is initialized with the
#     server's own configuration, in init.tmp beside it, and renamed into place once
#     complete: the rename marks it, and an initialization cut short is redone;
#   - a data directory that an older server version last ran gets its system tables
#     upgraded (MariaDB's mariadb-upgrade, as the image's entrypoint runs it), one that a
#     newer version ran is refused: no downgrade (below);
#   - bootstrap.sql, the server's init file, run at every start before it takes any
#     connection: every account of the set with its password from the Secret and exactly
#     its privileges, root for the socket alone (root@'%', root@127.0.0.1 and anonymous
#     accounts dropped), without the binary log, so each server holds the same accounts and
#     no transaction of its own. A password never passes through an environment, an
#     argument list or the image's entrypoint;
#   - each container's option files (mode 0600, in its own in-memory volume): the server's
#     probes log in as the read-only status account over the socket; the replication
#     sidecar as its administration account over the socket, as the status account to
#     the other pods, with the replication password for its change-source statement and
#     (backup-stream engines) the clone account for its backup tool; the exporter as its
#     own account. No container can read a password it does not use.
# A missing key of the Secret stops this container with a message that names it.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
conf_dir=${MYSQL_HA_CONF_DIR:?}
config_dir=${MYSQL_HA_CONFIG_DIR:?}
secret_dir=${MYSQL_HA_SECRET_DIR:?}
auth=${MYSQL_HA_AUTH_INIT_DIR:?}
data_root=${MYSQL_HA_DATA_ROOT:?}
datadir=${data_root}/mysql

# Every password this pod's accounts need, by file; the backup account's is optional (only
# a MySQLBackup uses it).
declare -A key_of=()
for pair in ${MYSQL_HA_SECRET_KEYS:?}; do
  key_of[${pair%%=*}]=${pair#*=}
done
missing=()
for file in $(printf '%s\n' "${!key_of[@]}" | sort); do
  [[ $file != backup-password ]] || continue
  [[ -s ${secret_dir}/${file} ]] || missing+=("${key_of[$file]}")
done
if ((${#missing[@]})); then
  die "the Secret ${MYSQL_HA_SECRET_NAME:-} has no (or an empty) key ${missing[*]}: every account has a password of its own; add each key, e.g. kubectl patch secret ${MYSQL_HA_SECRET_NAME:-} --type merge -p '{\"stringData\":{\"${missing[0]}\":\"<a new password>\"}}' (see the README's accounts table)"
fi

# password FILE: the password in the Secret's FILE, checked.
password() {
  local value
  value=$(<"${secret_dir}/$1")
  [[ -n $value ]] || die "the password in the Secret's key ${key_of[$1]:-$1} is empty"
  [[ $value != *$'\n'* ]] || die "the password in the Secret's key ${key_of[$1]:-$1} spans several lines"
  printf '%s' "$value"
}
# Every password checked once, before anything is written: below, a password is read inside
# an argument list, where errexit ignores a failed command substitution (an account would
# get an empty password).
for file in "${!key_of[@]}"; do
  [[ ! -s ${secret_dir}/${file} ]] || password "$file" >/dev/null
done

declared=$(declared_primary) || die "no declared primary: cannot choose this pod's role"
role=replica
((POD_ORDINAL == declared)) && role=primary
cp "${config_dir}/${role}.cnf" "${conf_dir}/role.cnf"
# Semi-sync's source side starts off on every pod: a server that waited for acknowledgements
# while it is a replica (its applier writes its binary log too) or before its replicas
# connect would hold each commit for the whole timeout. The sidecar turns it on on the pod
# that takes writes.
source_enabled=${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED:-}
if [[ -n $source_enabled ]]; then
  sed "s/${source_enabled}=ON\$/${source_enabled}=OFF/" "${MYSQL_HA_TOPOLOGY_DIR}/semi-sync.cnf" >"${conf_dir}/semi-sync.cnf"
else
  cp "${MYSQL_HA_TOPOLOGY_DIR}/semi-sync.cnf" "${conf_dir}/semi-sync.cnf"
fi
printf '[mysqld]\nserver-id=%d\n' "$((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))" >"${conf_dir}/server-id.cnf"
# Written after the initialization below (which runs with the pod's configuration, and has
# nothing to replicate and everything to write); a version before this one wrote
# skip-replica-start.cnf for fresh clones alone.
rm -f "${conf_dir}/start.cnf" "${conf_dir}/skip-replica-start.cnf"

# An empty data directory: only the declared primary starts one (a replica's is cloned).
if [[ ! -d $datadir || -z $(ls -A "$datadir") ]]; then
  [[ $role == primary ]] || die "no data directory on a replica: its clone did not run (see clone-mysql)"
  work=${data_root}/init.tmp
  rm -rf "$work"
  log "initializing an empty data directory"
  # shellcheck disable=SC2086  # the engine's command with its options
  $MYSQL_HA_INITIALIZE --datadir="$work" >"${TMPDIR:-/tmp}/initialize.log" 2>&1 \
    || die "the server could not initialize its data directory: $(tail -n 5 "${TMPDIR:-/tmp}/initialize.log")"
  sync -f "$work"
  rm -rf "$datadir"
  mv "$work" "$datadir"
  log "data directory initialized"
fi
printf '[mysqld]\n%s=1\n%s\n' "${MYSQL_HA_READ_ONLY_OPTION:?}" "${MYSQL_HA_SKIP_REPLICA_START_OPTION:?}" \
  >"${conf_dir}/start.cnf"

# The server version against the version that last upgraded the data directory's system
# tables (MariaDB: mariadb_upgrade_info, mysql_upgrade_info before 11.x, or, on a clone,
# which the backup copies without them, the donor's version in its backup information;
# MYSQL_HA_UPGRADE is '' where the server upgrades its own at start, as MySQL 8.0.16+ does,
# and refuses a downgrade itself).
#   - older data (a new image: e.g. 10.11 -> 11.8) or no record: the system tables are
#     upgraded before the server container starts, through a temporary server on a private
#     socket with no network, no replication, no grant tables and no binary log purge
#     (the image's entrypoint does the same with MARIADB_AUTO_UPGRADE, which the pods never
#     run): the upgrade writes nothing to the binary log, so every pod upgrades its own;
#   - newer data (the image went back a version): refused. The older server would start on
#     it, with an InnoDB error and the newer server's system tables, as nothing supported.
# major_minor TEXT: "MAJOR MINOR" of the first version number in TEXT.
major_minor() {
  [[ $1 =~ ([0-9]+)\.([0-9]+)\.[0-9]+ ]] || return 1
  printf '%d %d\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}
if [[ -n ${MYSQL_HA_UPGRADE:-} ]]; then
  server_version=$("$MYSQL_HA_SERVER" --version) || die "${MYSQL_HA_SERVER} --version failed"
  read -r new_major new_minor < <(major_minor "$server_version") \
    || die "cannot read the server's version from: ${server_version}"
  data_version='' info=''
  for name in ${MYSQL_HA_UPGRADE_INFO_FILES:?}; do
    if [[ -s ${datadir}/${name} ]]; then
      info=$name
      # The upgrade tool's record holds the version alone; a clone's backup information
      # (the copy has no record) names the donor's server_version.
      data_version=$(sed -n 's/^server_version = //p' "${datadir}/${name}" | head -n 1)
      [[ -n $data_version ]] || data_version=$(head -n 1 "${datadir}/${name}")
      break
    fi
  done
  old_major=0 old_minor=0
  if [[ -n $data_version ]]; then
    read -r old_major old_minor < <(major_minor "$data_version") \
      || die "cannot read the data directory's version from its ${info}: ${data_version}"
  fi
  if ((old_major > new_major || (old_major == new_major && old_minor > new_minor))); then
    die "the data directory was last upgraded by ${data_version} (its ${info}), and this server is ${new_major}.${new_minor} (${server_version}): a downgrade is not supported. Apply the engine (image) the data was running on again, or restore a backup made before the upgrade onto a new set"
  fi
  if ((old_major < new_major || (old_major == new_major && old_minor < new_minor))); then
    log "upgrading the system tables from ${data_version:-an unrecorded version} to ${new_major}.${new_minor}"
    upgrade_socket=${TMPDIR:-/tmp}/upgrade.sock
    upgrade_log=${TMPDIR:-/tmp}/upgrade.log
    "$MYSQL_HA_SERVER" --datadir="$datadir" --socket="$upgrade_socket" --pid-file="${TMPDIR:-/tmp}/upgrade.pid" \
      --skip-networking --skip-grant-tables "--${MYSQL_HA_SKIP_REPLICA_START_OPTION}" \
      "${MYSQL_HA_BINLOG_KEEP_OPTION:?}" --loose-innodb-buffer-pool-load-at-startup=0 \
      --loose-innodb-buffer-pool-dump-at-shutdown=0 >"$upgrade_log" 2>&1 &
    upgrade_server=$!
    until "$MYSQL_HA_ADMIN" --socket="$upgrade_socket" --user=root ping >/dev/null 2>&1; do
      kill -0 "$upgrade_server" 2>/dev/null \
        || die "the server could not start to upgrade its system tables: $(tail -n 5 "$upgrade_log")"
      sleep 0.2
    done
    # shellcheck disable=SC2086  # the engine's command with its options
    if ! $MYSQL_HA_UPGRADE --socket="$upgrade_socket" --user=root >>"$upgrade_log" 2>&1; then
      kill "$upgrade_server" 2>/dev/null || true
      wait "$upgrade_server" || true
      die "the system tables could not be upgraded: $(tail -n 5 "$upgrade_log")"
    fi
    "$MYSQL_HA_CLIENT" --socket="$upgrade_socket" --user=root --batch <<<"SHUTDOWN" >/dev/null 2>&1 \
      || kill "$upgrade_server" 2>/dev/null || true
    wait "$upgrade_server" || die "the server that upgraded the system tables did not stop cleanly: $(tail -n 5 "$upgrade_log")"
    log "system tables upgraded to ${new_major}.${new_minor}"
  fi
fi

# account USER HOST GRANTS PASSWORD_FILE [OPTIONS]: the statements that give USER@HOST its
# password and exactly GRANTS (on *.*), idempotent; OPTIONS follow the password (REQUIRE,
# resource limits).
account() {
  local user host grants options=${5:-} secret
  user=$(sql_string "$1")
  host=$(sql_string "$2")
  grants=$3
  secret=$(sql_string "$(password "$4")")
  printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'%s;\n" "$user" "$host" "$secret" "$options"
  printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s'%s;\n" "$user" "$host" "$secret" "$options"
  printf "GRANT %s ON *.* TO '%s'@'%s';\n" "$grants" "$user" "$host"
}

# With TLS on, the accounts that log in over the network do so with TLS only and with a
# certificate signed by the set's CA (the pods present their own): a client pod that knows a
# password still cannot log in as the set. The socket needs none (and cannot have it).
remote=''
[[ -z ${MYSQL_HA_TLS_DIR:-} ]] || remote=' REQUIRE X509'
clone_options=$remote
[[ $MYSQL_HA_CLONE_HOST == % ]] || clone_options=' REQUIRE NONE'
host=$(sql_string "${HOSTNAME%%.*}")
(
  umask 077
  {
    if [[ -n $MYSQL_HA_SQL_BOOTSTRAP_BEGIN ]]; then printf '%s;\n' "$MYSQL_HA_SQL_BOOTSTRAP_BEGIN"; fi
    printf "ALTER USER 'root'@'localhost' IDENTIFIED BY '%s';\n" "$(sql_string "$(password root-password)")"
    # Root obeys read_only too (MariaDB: without READ_ONLY ADMIN): a demoted primary or a
    # replica takes no write from anyone.
    if [[ -n ${MYSQL_HA_SQL_ROOT_OBEYS_READ_ONLY:-} ]]; then printf '%s;\n' "$MYSQL_HA_SQL_ROOT_OBEYS_READ_ONLY"; fi
    printf "DROP USER IF EXISTS 'root'@'%%', 'root'@'127.0.0.1', 'root'@'::1', 'root'@'%s', ''@'localhost', ''@'%s';\n" \
      "$host" "$host"
    account "$MYSQL_HA_ADMIN_USER" localhost "$MYSQL_HA_ADMIN_GRANTS" admin-password ' REQUIRE NONE'
    account "$MYSQL_HA_STATUS_USER" % "$MYSQL_HA_STATUS_GRANTS" status-password "$remote"
    # The probes' login over the socket, which cannot carry TLS (the more specific host wins).
    account "$MYSQL_HA_STATUS_USER" localhost "$MYSQL_HA_STATUS_GRANTS" status-password ' REQUIRE NONE'
    account "$MYSQL_HA_REPLICATION_USER" % 'REPLICATION SLAVE' replication-password "$remote"
    account "$MYSQL_HA_CLONE_USER" "$MYSQL_HA_CLONE_HOST" "$MYSQL_HA_CLONE_GRANTS" clone-password "$clone_options"
    if [[ -n ${MYSQL_HA_BACKUP_USER:-} && -s ${secret_dir}/backup-password ]]; then
      account "$MYSQL_HA_BACKUP_USER" % "$MYSQL_HA_BACKUP_GRANTS" backup-password "$remote"
    fi
    if [[ -n $MYSQL_HA_METRICS_USER ]]; then
      # The exporter reads status only, from this pod, with few connections.
      account "$MYSQL_HA_METRICS_USER" 127.0.0.1 'PROCESS, REPLICATION CLIENT, SELECT' metrics-password \
        ' WITH MAX_USER_CONNECTIONS 3'
    fi
    if [[ -n $MYSQL_HA_SQL_BOOTSTRAP_END ]]; then printf '%s;\n' "$MYSQL_HA_SQL_BOOTSTRAP_END"; fi
  } >"${auth}/server/bootstrap.sql.tmp"
)
mv "${auth}/server/bootstrap.sql.tmp" "${auth}/server/bootstrap.sql"

# option_file FILE USER PASSWORD_FILE GROUPS TRANSPORT: writes FILE (mode 0600) with USER
# and the password of the Secret's PASSWORD_FILE under each of GROUPS (space-separated),
# then the TRANSPORT lines (socket, or host and TLS options).
option_file() {
  local file=$1 user=$2 secret backslash=$'\\' quote='"' group
  secret=$(password "$3")
  secret=${secret//"$backslash"/"$backslash$backslash"}
  secret=${secret//"$quote"/"$backslash$quote"}
  (
    umask 077
    for group in $4; do
      printf '[%s]\nuser=%s\npassword="%s"\n%s' "$group" "$user" "$secret" "$5"
    done >"${file}.tmp"
  )
  mv "${file}.tmp" "$file"
}

over_socket="socket=${MYSQL_HA_SOCKET}"$'\n'
over_tcp="port=${MYSQL_HA_PORT}"$'\n'"${MYSQL_HA_CLIENT_NETWORK_OPTIONS:-}"
option_file "${auth}/server/client.cnf" "$MYSQL_HA_STATUS_USER" status-password client "$over_socket"
option_file "${auth}/sidecar/client.cnf" "$MYSQL_HA_ADMIN_USER" admin-password client "$over_socket"
option_file "${auth}/sidecar/status.cnf" "$MYSQL_HA_STATUS_USER" status-password client "$over_tcp"
(
  umask 077
  password replication-password >"${auth}/sidecar/replication-password"
)
# With TLS off where network accounts authenticate against the server's cache: one option
# file per network account, with which the server's probes keep the cache filled over the
# pod's loopback (server-probe.sh).
rm -f "${auth}"/server/cache-*.cnf
if [[ -n ${MYSQL_HA_AUTH_CACHE:-} ]]; then
  over_loopback="host=127.0.0.1"$'\n'"port=${MYSQL_HA_PORT}"$'\n'
  option_file "${auth}/server/cache-status.cnf" "$MYSQL_HA_STATUS_USER" status-password client \
    "$over_loopback"
  option_file "${auth}/server/cache-replication.cnf" "$MYSQL_HA_REPLICATION_USER" \
    replication-password client "$over_loopback"
  if [[ $MYSQL_HA_CLONE_HOST == % ]]; then
    option_file "${auth}/server/cache-clone.cnf" "$MYSQL_HA_CLONE_USER" clone-password client \
      "$over_loopback"
  fi
  if [[ -n ${MYSQL_HA_BACKUP_USER:-} && -s ${secret_dir}/backup-password ]]; then
    option_file "${auth}/server/cache-backup.cnf" "$MYSQL_HA_BACKUP_USER" backup-password client \
      "$over_loopback"
  fi
fi
if [[ $MYSQL_HA_CLONE_HOST == localhost ]]; then
  # [xtrabackup] is read by the backup tools, which serve this pod's data to a new replica.
  option_file "${auth}/sidecar/backup-tool.cnf" "$MYSQL_HA_CLONE_USER" clone-password "client xtrabackup" \
    "$over_socket"
fi
if [[ -n $MYSQL_HA_METRICS_USER ]]; then
  exporter_options="host=127.0.0.1"$'\n'"port=${MYSQL_HA_PORT}"$'\n'
  tls_dir=${MYSQL_HA_TLS_DIR:-}
  # mysqld_exporter speaks TLS when its option file names a CA.
  [[ -z $tls_dir ]] || exporter_options+="ssl-ca=${tls_dir}/ca.crt"$'\n'
  option_file "${auth}/metrics/exporter.cnf" "$MYSQL_HA_METRICS_USER" metrics-password client "$exporter_options"
fi
log "ordinal ${POD_ORDINAL} (declared primary: ${declared}): ${role}, server-id $((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))"
