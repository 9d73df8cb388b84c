#!/usr/bin/env bash
# Stand-in for the mariadb image's docker-entrypoint.sh, run with the host's
# MariaDB: the parts our pods rely on.
#   - as root, hands the data directory to the mysql user (the image does the same);
#   - an empty data directory is initialized with the root password read from
#     MARIADB_ROOT_PASSWORD_FILE (or MARIADB_ROOT_PASSWORD), for root@localhost
#     and root@'%', without writing to the binary log;
#   - an initialized one is reused as it is;
#   - then the server replaces this process.
set -o errexit -o nounset -o pipefail

datadir=/var/lib/mysql
password=${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
password_file=${MARIADB_ROOT_PASSWORD_FILE:-${MYSQL_ROOT_PASSWORD_FILE:-}}
[[ -n $password_file ]] && password=$(<"$password_file")

# Started as root, the image hands its directories to mysql and runs the server as
# mysql; started as another user (runAsUser), it runs as that user.
user_args=()
if [[ $(id -u) == 0 ]]; then
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld
  find "$datadir" \! -user mysql -exec chown mysql:mysql '{}' +
  user_args=(--user=mysql)
fi

if [[ ! -d $datadir/mysql ]]; then
  [[ -n $password ]] || { echo "entrypoint: database is uninitialized and no root password is given" >&2; exit 1; }
  echo "entrypoint: initializing ${datadir}" >&2
  mariadb-install-db "${user_args[@]}" --datadir="$datadir" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/dev/null
  mariadbd "${user_args[@]}" --skip-networking --socket=/run/mysqld/init.sock --skip-log-bin \
    --skip-slave-start &
  server=$!
  for _ in $(seq 1 300); do
    mariadb-admin --socket=/run/mysqld/init.sock --user=root ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  quoted=${password//\\/\\\\}
  quoted=${quoted//\'/\'\'}
  mariadb --socket=/run/mysqld/init.sock --user=root <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\'', @@hostname,'\'');
ALTER USER 'root'@'localhost' IDENTIFIED BY '${quoted}';
CREATE USER 'root'@'%' IDENTIFIED BY '${quoted}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
  kill "$server"
  wait "$server" || true
  echo "entrypoint: initialized" >&2
fi

exec "$@" "${user_args[@]}"
