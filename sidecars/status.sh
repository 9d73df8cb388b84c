#!/usr/bin/env bash
# Read-only status of the whole set, for operators:
#   kubectl exec <pod> -c replication -- bash /opt/mysql-ha/status.sh
# One tab-separated line per pod that answers: its role (primary, or the pod it
# replicates from), read-only, GTID history, replication lag in seconds, semi-sync
# state; then the declared primary, the replicas that did not answer, and the most
# advanced replica, the one to declare primary when the primary is lost (its GTID history
# contains every other answering replica's). It changes nothing.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity

# remote HOST: SQL on a pod's server (this one's too) as the read-only status account.
remote() {
  peer_sql "$@"
}

# status_of NAME HOST: the status variable NAME on HOST, '-' when it has none.
status_of() {
  local value
  [[ -n $1 ]] || { printf -- '-'; return; }
  value=$(remote "$2" <<<"SHOW GLOBAL STATUS LIKE '$1'" | cut -f2)
  printf '%s' "${value:--}"
}

declared=$(declared_primary || printf '?')
printf 'pod\trole\tread_only\tgtid_executed\tlag_s\tsemi_sync_source\tsemi_sync_replica\n'
misses=0 ordinal=0
best='' best_gtids=''
declare -A gtids=()
silent=()
unresolved=()
# gone NAME: a pod with no address (deleted, or its node lost) among those that have one.
gone() {
  printf '%s\tunreachable (no address: its pod is gone)\t-\t-\t-\t-\t-\n' "$1"
  [[ $1 == "${POD_SET}-${declared}" ]] || silent+=("$1")
}
while ((misses < 3)); do
  name="${POD_SET}-${ordinal}"
  host=$(pod_host "$ordinal")
  ordinal=$((ordinal + 1))
  if ! getent hosts "$host" >/dev/null; then
    misses=$((misses + 1))
    unresolved+=("$name")
    continue
  fi
  misses=0
  for missing in "${unresolved[@]}"; do gone "$missing"; done
  unresolved=()
  if ! read_only=$(remote "$host" <<<"SELECT @@GLOBAL.read_only" 2>/dev/null) \
    || ! executed=$(remote "$host" <<<"$MYSQL_HA_SQL_GTID_EXECUTED" 2>/dev/null | gtid_of); then
    printf '%s\tunreachable\t-\t-\t-\t-\t-\n' "$name"
    [[ $name == "${POD_SET}-${declared}" ]] || silent+=("$name")
    continue
  fi
  declare -gA REPLICA_STATUS=()
  key=''
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == *": "* ]]; then
      key=${line%%:*}
      REPLICA_STATUS[$key]=${line#*: }
    elif [[ -n $key && -n $line && $line != '***'* && $line != *: ]]; then
      REPLICA_STATUS[$key]+=$line
    fi
  done < <(remote "$host" --vertical --column-names <<<"$MYSQL_HA_SQL_REPLICA_STATUS")
  source=${REPLICA_STATUS[$MYSQL_HA_STATUS_SOURCE_HOST]:-}
  lag=${REPLICA_STATUS[$MYSQL_HA_STATUS_LAG_SECONDS]:--}
  if [[ -n $source ]]; then
    role="replica of ${source%%.*}"
  elif [[ $read_only == 0 ]]; then
    role=primary
  else
    role="read-only, not replicating"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$role" "$read_only" "${executed:-none}" "$lag" \
    "$(status_of "$MYSQL_HA_SEMI_SYNC_SOURCE_STATUS" "$host")" "$(status_of "$MYSQL_HA_SEMI_SYNC_REPLICA_STATUS" "$host")"
  if [[ $role != primary ]]; then
    # What it received counts too: a semi-sync acknowledgement means "received".
    received=$(gtid_of <<<"${REPLICA_STATUS[$MYSQL_HA_STATUS_RECEIVED_GTIDS]:-}")
    executed=${executed}${received:+,}${received}
    gtids[$name]=$executed
    if [[ -z $best ]] || gtid_contains "$executed" "$best_gtids"; then
      best=$name best_gtids=$executed
    fi
  fi
done
# The declared primary beyond the last pod that answered (the highest ordinal, lost).
for missing in "${unresolved[@]}"; do
  [[ $missing != "${POD_SET}-${declared}" ]] || gone "$missing"
done
printf 'declared primary: %s-%s\n' "$POD_SET" "$declared"
# A replica that does not answer may hold acknowledged transactions the others lack.
if ((${#silent[@]})); then
  printf 'not answering: %s (it may hold transactions the others lack: run this again, and declare a primary without it only once it is lost for good)\n' \
    "${silent[*]}"
fi
for name in "${!gtids[@]}"; do
  if ! gtid_contains "$best_gtids" "${gtids[$name]}"; then
    printf 'most advanced replica: none (no replica holds every other one'"'"'s transactions: %s and %s differ)\n' \
      "$best" "$name"
    exit 0
  fi
done
printf 'most advanced replica: %s\n' "${best:-none}"
