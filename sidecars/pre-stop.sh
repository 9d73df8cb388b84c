#!/usr/bin/env bash
# preStop hook of the server container ("server") and of the replication sidecar
# ("sidecar"). The kubelet runs each container's hook, then sends that container SIGTERM,
# every container on its own. So that a server never stops while it takes writes:
#   - server: asks the sidecar's watch loop to release the server ($run/stop-requested),
#     then waits until it has ($run/stop-ready): a server that takes writes turns
#     read-only, its client sessions killed (as at a switchover), and on MySQL the
#     threads that feed the replicas end once the replicas have everything (the server's
#     shutdown otherwise waits 8 s for them);
#   - sidecar: keeps the watch loop running (its SIGTERM waits for this hook) while the
#     server's hook waits; alone (the sidecar restarts, the server does not), nothing is
#     asked, and it returns once it has seen no request for 2 s.
# Each waits MYSQL_HA_STOP_WAIT_SECONDS at most (the watch loop may not run), then lets its
# container stop anyway. A new start of the server clears the request (replication.sh).
set -o errexit -o nounset -o pipefail
run=${MYSQL_HA_RUN_DIR:?}
requested=${run}/stop-requested
ready=${run}/stop-ready
limit=$((${MYSQL_HA_STOP_WAIT_SECONDS:-10} * 10))

case ${1:-} in
  server) : >"$requested" || exit 0 ;;
  sidecar)
    # Both hooks start at once: give the server's a moment to ask.
    for ((tick = 0; tick < 20; tick++)); do
      [[ ! -e $requested ]] || break
      sleep 0.1
    done
    [[ -e $requested ]] || exit 0
    ;;
  *)
    echo "usage: pre-stop.sh server|sidecar" >&2
    exit 0
    ;;
esac
for ((tick = 0; tick < limit; tick++)); do
  [[ ! -e $ready ]] || exit 0
  sleep 0.1
done
echo "pre-stop.sh: the server was not released within ${MYSQL_HA_STOP_WAIT_SECONDS:-10} s: stopping anyway" >&2
exit 0
