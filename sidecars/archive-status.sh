#!/bin/sh
# The binary log archive and the backups of the target, for operators (read-only):
#   kubectl exec <pod> -c binlog-archive -- sh /opt/mysql-ha/archive-status.sh
# One tab-separated line per series of the archive (see archive.sh): its path, when its
# first file was created, how far it reaches (archived_until), its files, and what it
# follows (a first series, a new data directory, or files purged before they were
# archived: a gap, with the transactions missing). Then one line per complete backup: the
# latest point in time it restores to (the furthest series that began before the backup
# started), the pod it copied (and, for the primary instead of a replica, why) and, when a
# later series reaches further, the gap between. Then the newest
# restore drill's report (RestoreDrill).
# It exits 1 when the newest backup cannot reach the archive's last point: the restores
# to the latest times need a new backup (an alert-worthy state), 0 otherwise.
set -eu
scripts=${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}
# shellcheck source=target.sh
. "$scripts/target.sh"
# shellcheck source=archive.sh
. "$scripts/archive.sh"
load_target_credentials
location=${MYSQL_HA_BACKUP_LOCATION:?}

series=$(archive_series "$location" | sort -k3,3n)
printf 'series\tcreated\tarchived_until\tfiles\tfollows\n'
printf '%s\n' "$series" | while read -r path until created; do
  [ -n "$path" ] || continue
  files=$(rclone lsf --files-only --max-depth 1 --filter '- *.partial' --filter '+ mysql-bin.[0-9]*' --filter '- *' \
    "$location/binlogs/$path" 2>/dev/null | wc -l)
  follows=$(series_break "$location" "$path")
  case $(series_value "$location" "$path" cause) in
    purged) follows="GAP: ${follows}" ;;
    '') [ "$created" -gt 0 ] || follows='(an earlier layout)' ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$path" "$( [ "$created" -gt 0 ] && utc "$created" || printf -- -)" \
    "$(utc "$((until - 1))")" "$files" "${follows:-first}"
done

furthest=$(printf '%s\n' "$series" | awk '$2 > max { max = $2 } END { print max + 0 }')
printf 'backup\tstarted\trestorable_until\tcopied\n'
status=0 restorable=0
for name in $(rclone lsf -R --files-only --include '/*/manifest' "$location/backups" 2>/dev/null \
  | sed -n 's|/manifest$||p' | sort); do
  manifest=$(rclone cat "$location/backups/$name/manifest")
  started=$(printf '%s\n' "$manifest" | sed -n 's/^started_epoch=//p')
  # Which pod it copied; the primary instead of a replica, and why.
  copied=$(printf '%s\n' "$manifest" | sed -n 's/^source=//p')
  role=$(printf '%s\n' "$manifest" | sed -n 's/^source_role=//p')
  fallback=$(printf '%s\n' "$manifest" | sed -n 's/^source_fallback=//p')
  copied="${copied:--}${role:+ ($role)}${fallback:+: $fallback}"
  restorable=$(printf '%s\n' "$series" | awk -v s="${started:-0}" '$1 != "" && $3 <= s && $2 > max { max = $2 } END { print max + 0 }')
  reach=-
  [ "$restorable" -eq 0 ] || reach=$(utc "$((restorable - 1))")
  gap=''
  if [ "$restorable" -lt "$furthest" ]; then
    gap="	(the archive reaches $(utc "$((furthest - 1))") past a gap: a newer backup restores there)"
  fi
  printf '%s\t%s\t%s\t%s%s\n' "$name" "$(utc "${started:-0}")" "$reach" "$copied" "$gap"
done
# The newest restore drill (RestoreDrill), if any ran.
drill=$(rclone lsf --dirs-only "$location/drills" 2>/dev/null | tr -d / | sort | tail -n 1) || drill=''
if [ -n "$drill" ]; then
  printf 'last restore drill\t%s\t%s\n' "$drill" \
    "$(rclone cat "$location/drills/$drill/report" 2>/dev/null | grep -E '^(backup|point_in_time|tables_checked|restore_seconds)=' | tr '\n' ' ')"
else
  printf 'last restore drill\tnone\n'
fi
# The newest backup (the last of the loop) reaches the archive's last point, or not.
if [ "$furthest" -gt 0 ] && [ "$restorable" -lt "$furthest" ]; then
  status=1
fi
exit "$status"
