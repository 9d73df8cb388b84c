#!/usr/bin/env bash
# Startup and liveness probe of the server container ("startup" or "liveness"):
#   - the server answers: the engine's admin tool pings it over the socket as the status
#     account; ping succeeds while the server runs, even when it is too busy to take a
#     login. Only this decides the probe.
#   - with TLS off, on engines whose network accounts authenticate against the server's
#     cache (caching_sha2_password; MYSQL_HA_AUTH_CACHE), the cache holds every network
#     account of the set: the set's clients on the network then authenticate by
#     challenge-response and never send a password (they refuse to: no TLS with a
#     certificate nobody checked, no RSA key fetched). At start each account logs in once
#     over the pod's loopback, where nobody can stand in between; afterwards one login as
#     the status account without TLS checks the cache, and a miss (FLUSH PRIVILEGES empties
#     it) logs every account in again. Each login is bounded (1 s, 3 s in all) and its failure
#     ignored: a client that finds the cache cold retries.
set -o errexit -o nounset -o pipefail
auth=${MYSQL_HA_AUTH_DIR:?}
"$MYSQL_HA_ADMIN" --defaults-extra-file="${auth}/client.cnf" ping >/dev/null || exit 1
[[ -n ${MYSQL_HA_AUTH_CACHE:-} ]] || exit 0

# login FILE [OPTION...]: one login over 127.0.0.1 as the account of the option file FILE.
login() {
  timeout 1 "$MYSQL_HA_CLIENT" --defaults-extra-file="$1" "${@:2}" --batch --skip-column-names \
    <<<"SELECT 1" >/dev/null 2>&1
}

if [[ ${1:-} == liveness ]] && login "${auth}/cache-status.cnf" --ssl-mode=DISABLED; then
  exit 0
fi
for file in "${auth}"/cache-*.cnf; do
  [[ -e $file ]] || continue
  # Within the liveness probe's own timeout (5 s); the next probe goes on.
  ((SECONDS < 3)) || break
  # The full exchange, on the loopback: over TLS, or with the server's own RSA key.
  login "$file" --get-server-public-key || true
done
exit 0
