#!/bin/sh
# Container "report" of a RestoreDrill's Job (rclone's image: busybox sh): the restore init
# containers succeeded (a failure fails the Job before this runs). Prints what they
# measured and did, and uploads it to drills/<UTC start>/report of the target; keeps the
# newest 30 reports. The restored data goes with the pod.
set -eu
# shellcheck source=target.sh
. "${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}/target.sh"
load_target_credentials
stop_on_term 143 "report abandoned"

location=${MYSQL_HA_BACKUP_LOCATION:?}
report=${MYSQL_HA_DATA_ROOT:?}/restore-report
[ -s "$report" ] || die "the restore left no report in ${report}"
[ -d "${MYSQL_HA_DATA_ROOT}/mysql" ] || die "the restore left no data directory"
name=$(date -u +%Y%m%dT%H%M%SZ)
out=${TMPDIR:-/tmp}/drill-report
{
  printf 'drill=%s\nresult=restored\n' "$name"
  cat "$report"
} >"$out"
log "restore drill ${name}: $(tr '\n' ' ' <"$out")"
run rclone copyto "$out" "$location/drills/$name/report"
# The newest 30 reports stay.
old=$(rclone lsf --dirs-only "$location/drills" 2>/dev/null | tr -d / | sort -r | sed '1,30d') || old=''
for dir in $old; do
  run rclone purge "$location/drills/$dir" || true
done
