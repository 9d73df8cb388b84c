#!/usr/bin/env bash
# Stand-in for the mysql image's docker-entrypoint.sh: the parts the pods rely on.
#   - arguments that start with "-" are options for mysqld;
#   - started as root, it hands the server's directories to mysql and runs again as mysql;
#     started as another user (runAsUser), it runs as that user;
#   - an empty data directory is initialized with the root password from
#     MYSQL_ROOT_PASSWORD_FILE (or MYSQL_ROOT_PASSWORD), for root@localhost and root@'%',
#     without writing to the binary log; an initialized one is reused as it is;
#   - then the server (or the given command) replaces this process.
set -o errexit -o nounset -o pipefail

note() { echo "entrypoint: $*" >&2; }

if [[ ${1:-} == -* ]]; then
  set -- mysqld "$@"
fi
wants_help() {
  local arg
  for arg; do
    case $arg in -'?' | --help | --print-defaults | -V | --version) return 0 ;; esac
  done
  return 1
}
if [[ ${1:-} != mysqld ]] || wants_help "$@"; then
  exec "$@"
fi

# A setting as the server sees it: my.cnf, the pod's conf.d and the arguments.
server_setting() {
  local name=$1
  shift
  # (a throw-away binlog index: with log-bin, --help would otherwise create the real one)
  "$@" --verbose --help --log-bin-index="$(mktemp -u)" 2>/dev/null | awk -v name="$name" '
    /^-+ +-+$/ { table = 1; next }  # the table of values follows the help text
    table && $1 == name { print $2; exit }'
}
datadir=$(server_setting datadir "$@")
datadir=${datadir%/}
socket_dir=$(dirname "$(server_setting socket "$@")")

if [[ $(id -u) == 0 ]]; then
  mkdir -p "$datadir" "$socket_dir"
  find "$datadir" "$socket_dir" \! -user mysql -exec chown mysql:mysql '{}' +
  note "switching to the mysql user"
  exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -d $datadir/mysql ]]; then
  password=${MYSQL_ROOT_PASSWORD:-}
  if [[ -n ${MYSQL_ROOT_PASSWORD_FILE:-} ]]; then
    password=$(<"$MYSQL_ROOT_PASSWORD_FILE")
  fi
  [[ -n $password ]] || { note "database is uninitialized and no root password is given"; exit 1; }
  note "initializing ${datadir}"
  "$@" --initialize-insecure --default-time-zone=SYSTEM
  # A temporary server on a socket of its own, with no network, no replication and
  # writable whatever the pod's configuration says (a replica's super_read_only).
  socket=$socket_dir/mysqld-init.sock
  "$@" --skip-networking --mysqlx=OFF --socket="$socket" --skip-replica-start \
    --super-read-only=OFF --read-only=OFF --default-time-zone=SYSTEM &
  server=$!
  for _ in $(seq 1 300); do
    mysqladmin --socket="$socket" --user=root ping >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { note "the temporary server exited"; exit 1; }
    sleep 0.1
  done
  quoted=${password//\\/\\\\}
  quoted=${quoted//\'/\'\'}
  # The password reaches the server on stdin; SHUTDOWN ends the temporary server in the
  # same session, so no other client needs the new password.
  mysql --protocol=socket --socket="$socket" --user=root --batch <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
ALTER USER 'root'@'localhost' IDENTIFIED BY '${quoted}';
CREATE USER 'root'@'%' IDENTIFIED BY '${quoted}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SHUTDOWN;
SQL
  wait "$server"
  note "initialized"
fi

exec "$@"
