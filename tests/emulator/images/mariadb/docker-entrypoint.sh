#!/usr/bin/env bash
# Stand-in for the mariadb image's docker-entrypoint.sh: the parts the pods rely on.
#   - arguments that start with "-" are options for mariadbd;
#   - started as root, it hands the server's directories to mysql and runs again as mysql;
#     started as another user (runAsUser), it runs as that user;
#   - an empty data directory is initialized with the root password from
#     MARIADB_ROOT_PASSWORD_FILE / MYSQL_ROOT_PASSWORD_FILE (or MARIADB_ROOT_PASSWORD /
#     MYSQL_ROOT_PASSWORD), for root@localhost and root@'%', without writing to the binary
#     log; the passwordless root@127.0.0.1, root@::1 and root@<hostname> are dropped;
#     an initialized data directory is reused as it is;
#   - then the server (or the given command) replaces this process.
set -o errexit -o nounset -o pipefail

note() { echo "entrypoint: $*" >&2; }

if [[ ${1:-} == -* ]]; then
  set -- mariadbd "$@"
fi
wants_help() {
  local arg
  for arg; do
    case $arg in -'?' | --help | --print-defaults | -V | --version) return 0 ;; esac
  done
  return 1
}
if [[ ${1:-} != mariadbd && ${1:-} != mysqld ]] || wants_help "$@"; then
  exec "$@"
fi

# A setting as the server sees it: my.cnf, the pod's conf.d and the arguments.
server_setting() {
  local name=$1
  shift
  "$@" --verbose --help 2>/dev/null | awk -v name="$name" '
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
  password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
  password_file=${MARIADB_ROOT_PASSWORD_FILE:-${MYSQL_ROOT_PASSWORD_FILE:-}}
  if [[ -n $password_file ]]; then
    password=$(<"$password_file")
  fi
  [[ -n $password ]] || { note "database is uninitialized and no root password is given"; exit 1; }
  note "initializing ${datadir}"
  # Options of the command (after the program name) go to the server it bootstraps.
  mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve "${@:2}" >/dev/null
  # A temporary server on a socket of its own, with no network, no replication and
  # writable whatever the pod's configuration says.
  socket=$socket_dir/mariadbd-init.sock
  "$@" --skip-networking --socket="$socket" --skip-log-bin --skip-slave-start --read-only=OFF &
  server=$!
  for _ in $(seq 1 300); do
    mariadb-admin --socket="$socket" --user=root ping >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { note "the temporary server exited"; exit 1; }
    sleep 0.1
  done
  quoted=${password//\\/\\\\}
  quoted=${quoted//\'/\'\'}
  # The password reaches the server on stdin; SHUTDOWN ends the temporary server in the
  # same session, so no other client needs the new password.
  mariadb --protocol=socket --socket="$socket" --user=root --batch <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname, '\'');
ALTER USER 'root'@'localhost' IDENTIFIED BY '${quoted}';
CREATE USER 'root'@'%' IDENTIFIED BY '${quoted}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SHUTDOWN;
SQL
  wait "$server"
  note "initialized"
fi

exec "$@"
