#!/bin/sh
# Sidecar "binlog-archive" (rclone's image: busybox sh), beside every server when
# MySQLBackup archives binary logs: copies each binary log this pod has closed into its
# series, binlogs/<pod>/<series>/ of the target (see archive.sh), never over a file there,
# then publishes the series' archived-gtids and archived-until: every transaction committed
# from the series' start up to that time (Unix seconds) is in the files copied.
# The replication sidecar of the declared primary closes its binary log every
# MYSQL_HA_BINLOG_FLUSH_SECONDS when it took writes, and writes that time into
# $MYSQL_HA_RUN_DIR/binlog-closed-at; the file being written is never copied.
# A series continues only while each file continues the previous one: a data directory
# that numbers its files anew (re-seeded, restored), or files purged before they were
# copied (the target was down for longer than the server keeps them), start a new series,
# and the old one's archived-until stops where its history stops. A gap is logged as an
# ERROR (and archive-status.sh lists it); a restore never replays across it.
# Each round reads the server's index once and copies what follows the last file copied:
# its cost does not grow with the archive.
# On SIGTERM it ends at once and abandons a copy under way: rclone, told to stop, deletes
# the partial file it was writing (the file never appears under its own name unless it is
# complete), the file is not counted as copied and archived-until does not move, so the next
# start copies it again.
set -eu
scripts=${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}
# shellcheck source=target.sh
. "$scripts/target.sh"
# shellcheck source=archive.sh
. "$scripts/archive.sh"
load_target_credentials
# A round gives up soon on a target that refuses or stalls (rclone's defaults retry an
# unreachable S3 for about 7 minutes, while warnings, metrics and purges wait): the next
# round, 2 s later, tries again.
RCLONE_LOW_LEVEL_RETRIES=${RCLONE_LOW_LEVEL_RETRIES:-3} RCLONE_CONTIMEOUT=${RCLONE_CONTIMEOUT:-15s}
RCLONE_TIMEOUT=${RCLONE_TIMEOUT:-60s}
export RCLONE_LOW_LEVEL_RETRIES RCLONE_CONTIMEOUT RCLONE_TIMEOUT

location=${MYSQL_HA_BACKUP_LOCATION:?}
datadir=${MYSQL_HA_DATADIR:?}
poll=${MYSQL_HA_ARCHIVE_POLL_SECONDS:-5}
heartbeat=${MYSQL_HA_ARCHIVE_HEARTBEAT:?}
pod=${MYSQL_HA_POD_NAME:?}
root=$location/binlogs/$pod
closed_at_file=${MYSQL_HA_RUN_DIR:?}/binlog-closed-at
mark_file=${MYSQL_HA_RUN_DIR}/binlog-mark
index=$datadir/mysql-bin.index
work=${TMPDIR:-/tmp}/binlog-archive
mkdir -p "$work"

# number NAME: the sequence number of a binary log's name (mysql-bin.000012: 12).
number() {
  digits=${1##*.}
  digits=$(printf '%s' "$digits" | sed 's/^0*//')
  printf '%d' "${digits:-0}"
}

# closed_files: the files of the index the server has closed (all but the last), oldest
# first, with their numbers: "number name" lines.
closed_files() {
  sed 's|.*/||' "$index" | sed '$d' | awk '{ n = $0; sub(/.*\./, "", n); printf "%d %s\n", n, $0 }'
}

# local_header FILE: binlog_header of the pod's FILE ('' when it is gone).
local_header() {
  binlog_header <"$datadir/$1" 2>/dev/null || true
}

# publish NAME VALUE: writes the series' file NAME.
publish() {
  printf '%s\n' "$2" >"$work/$1"
  run rclone copyto --ignore-times "$work/$1" "$series_path/$1"
}

series='' series_path='' last=-1 last_name='' archived_gtids=''
previous='' previous_last=-1 previous_gtids='' previous_covered='' latest_covered=''

# resume: the newest series of this pod on the target, if this data directory continues
# it: the last file copied is here with the same header, or the file after it is, with the
# header the series recorded for it (creation time, server id, GTID set). Otherwise the
# next round starts a series. Fails while the target does not answer (the rounds try
# again: a series begun meanwhile would end the one this data directory continues).
resume() {
  listing=0
  dirs=$(rclone lsf --dirs-only "$root" 2>/dev/null) || listing=$?
  # 3: no such folder yet (a local target), which S3 lists as empty.
  [ "$listing" -eq 0 ] || [ "$listing" -eq 3 ] || return 1
  newest=$(printf '%s\n' "$dirs" | sed -n 's|/$||p' | grep -E '^[0-9]{8}T[0-9]{6}Z-[0-9]+$' | sort | tail -n 1) \
    || newest=''
  [ -n "$newest" ] || return 0
  previous_name=$(rclone lsf --files-only --filter '- *.partial' --filter '+ mysql-bin.[0-9]*' --filter '- *' "$root/$newest" \
    | sort -t. -k2,2n | tail -n 1) || previous_name=''
  previous_gtids=$(rclone cat "$root/$newest/archived-gtids" 2>/dev/null) || previous_gtids=''
  previous_covered=$(rclone cat "$root/$newest/archived-gtids-marked" 2>/dev/null) \
    || previous_covered=${previous_gtids##* }
  # Retention may have deleted every file of it: the file after the last one copied says
  # which that was.
  if [ -z "$previous_name" ] && [ -n "$previous_gtids" ]; then
    previous_name=$(printf 'mysql-bin.%06d' $(($(number "${previous_gtids%% *}") - 1)))
  fi
  # A series that never copied a file says nothing: the next one is a first.
  [ -n "$previous_name" ] || return 0
  previous=$newest previous_last=$(number "$previous_name")
  mine=$(local_header "$previous_name")
  theirs=$(rclone cat --count 65536 "$root/$newest/$previous_name" 2>/dev/null | binlog_header) || theirs=''
  next_name=${previous_gtids%% *}
  if [ -n "$mine" ] && [ "$mine" = "$theirs" ]; then
    :
  elif [ -n "$previous_gtids" ] && [ -e "$datadir/$next_name" ] \
    && [ "$next_name $(local_header "$next_name")" = "$previous_gtids" ]; then
    :
  else
    return 0
  fi
  series=$newest series_path=$root/$newest last=$previous_last last_name=$previous_name
  archived_gtids=$previous_gtids latest_covered=$previous_covered
  log "continuing series ${series} after ${last_name}"
}

# start_series NUMBER NAME: a new series whose first file is NAME, and why.
start_series() {
  header=$(local_header "$2")
  [ -n "$header" ] || return 1
  created=${header%% *}
  gtids=${header##* }
  new=$(date -u -d "@${created}" +%Y%m%dT%H%M%SZ)-$(printf '%06d' "$1")
  cause=first missing=''
  if [ -n "$previous" ]; then
    oldest=$(closed_files | head -n 1 | cut -d' ' -f1)
    if [ "$1" -gt $((previous_last + 1)) ] && [ "${oldest:-$1}" -gt "$previous_last" ]; then
      cause=purged
      missing="$(printf 'mysql-bin.%06d' $((previous_last + 1))) to $(printf 'mysql-bin.%06d' $(($1 - 1)))"
    else
      cause='new-data-directory'
    fi
  fi
  # The series exists once its series file does: until then the old one stays current.
  kept_path=$series_path series_path=$root/$new
  if ! publish series "$(printf 'pod=%s\nfirst=%s\ncreated=%s\nserver_id=%s\ngtids_before=%s\nafter=%s\nafter_gtids=%s\ncause=%s\nmissing_files=%s' \
    "$pod" "$2" "$created" "$(printf '%s' "$header" | cut -d' ' -f2)" "$gtids" "$previous" \
    "${previous_covered:-${previous_gtids##* }}" "$cause" "$missing")"; then
    series_path=$kept_path
    return 1
  fi
  series=$new last=$(($1 - 1)) last_name=''
  case $cause in
    purged)
      log "ERROR: gap in the archive: $(series_break "$location" "$pod/$new"); series ${previous} ends, ${new} begins"
      gap_since=$created gap_checked=0
      ;;
    new-data-directory) log "new series ${new}: $(series_break "$location" "$pod/$new"); series ${previous} ends" ;;
    *) log "new series ${new}" ;;
  esac
  archived_gtids='' latest_covered=''
}

keep=${MYSQL_HA_BINLOG_KEEP_SECONDS:-0}
purge_file=${MYSQL_HA_BINLOG_PURGE_FILE:-}
warned=''

# purge_point: the server expires no binary log itself (MySQLBackup turns its expiry off):
# this names in $purge_file the first file it must keep, every file before it copied into
# the series under way and unchanged for $keep seconds (the server's own expiry counts
# from the same time); the replication sidecar purges those. A closed file not copied
# stays, however old, and is logged as a WARNING (again each hour, and when more join it):
# the volume fills instead of the archive losing it.
purge_point() {
  [ "$keep" -gt 0 ] && [ -n "$purge_file" ] && [ -n "$series" ] || return 0
  now=$(date +%s)
  point=$(sed 's|.*/||' "$index" | (cd "$datadir" && xargs stat -c '%Y %s %n' 2>/dev/null) \
    | awk -v last="$last" -v before=$((now - keep)) '
      { n = $3; sub(/.*\./, "", n); name[NR] = $3; number[NR] = n + 0; old[NR] = ($1 <= before); size[NR] = $2 }
      END {
        for (i = 1; i <= NR; i++) if (number[i] > last || !old[i]) { keep = name[i]; break }
        for (i = 1; i < NR; i++) if (number[i] > last && old[i]) { count++; bytes += size[i] }
        printf "%s %s %d %d\n", name[1], keep, count, bytes
      }') || return 0
  read -r index_first kept count bytes <<EOF
$point
EOF
  if [ -n "$kept" ] && [ "$kept" != "$index_first" ]; then
    printf '%s\n' "$kept" >"$purge_file.tmp" && mv "$purge_file.tmp" "$purge_file"
  fi
  if [ "${count:-0}" -gt 0 ]; then
    hour=$((now / 3600))
    if [ "$count $hour" != "$warned" ]; then
      log "WARNING: ${count} closed binary logs of ${pod} ($((bytes / 1048576)) MiB) are older than the expiry (${keep} s) and not archived: the server keeps them until ${MYSQL_HA_BACKUP_TARGET} takes them, and its volume fills meanwhile"
      warned="$count $hour"
    fi
  else
    warned=''
  fi
}

metrics_dir=${MYSQL_HA_ARCHIVE_METRICS_DIR:-}
gap_since=0 gap_checked=0 failures=0

# check_gap: while the series under way follows files purged before they were copied
# (gap_since: its first file's creation time), whether a backup that started after it has
# completed since: then the latest times restore again, and the gap is no longer reported
# (the next check, once a minute).
check_gap() {
  [ "$gap_since" -gt 0 ] || return 0
  now=$(date +%s)
  [ $((now - gap_checked)) -ge "${MYSQL_HA_ARCHIVE_GAP_CHECK_SECONDS:-60}" ] || return 0
  gap_checked=$now
  for backup in $(rclone lsf --dirs-only "$location/backups" 2>/dev/null | tr -d / | sort -r | head -n 3); do
    started=$(rclone cat "$location/backups/$backup/manifest" 2>/dev/null | sed -n 's/^started_epoch=//p') \
      || continue
    [ -n "$started" ] || continue
    if [ "$started" -ge "$gap_since" ]; then
      log "backup ${backup} started after the gap: restores to the latest times use it"
      gap_since=0
    fi
    return 0
  done
}

# write_metrics: the archiver's state in Prometheus' text format, for the archive-metrics
# container to serve (with ReplicatedMySQL(metrics=True)).
write_metrics() {
  [ -n "$metrics_dir" ] || return 0
  {
    printf '# HELP mysql_ha_binlog_archive_gap 1 while the series being archived follows binary logs purged before they were copied (no restore crosses the gap) and no backup has completed since.\n'
    printf '# TYPE mysql_ha_binlog_archive_gap gauge\nmysql_ha_binlog_archive_gap %d\n' "$([ "$gap_since" -gt 0 ] && echo 1 || echo 0)"
    printf '# HELP mysql_ha_binlog_archive_until_timestamp_seconds Every transaction of this pod before this time is archived.\n'
    printf '# TYPE mysql_ha_binlog_archive_until_timestamp_seconds gauge\nmysql_ha_binlog_archive_until_timestamp_seconds %s\n' \
      "${published##* }"
    printf '# HELP mysql_ha_binlog_archive_unarchived_expired_files Closed binary logs past the expiry that the target has not taken (kept: the volume fills).\n'
    printf '# TYPE mysql_ha_binlog_archive_unarchived_expired_files gauge\nmysql_ha_binlog_archive_unarchived_expired_files %d\n' \
      "${count:-0}"
    printf '# HELP mysql_ha_binlog_archive_copy_failures_total Rounds whose copy to the target failed.\n'
    printf '# TYPE mysql_ha_binlog_archive_copy_failures_total counter\nmysql_ha_binlog_archive_copy_failures_total %d\n' \
      "$failures"
    printf '# HELP mysql_ha_binlog_archive_round_timestamp_seconds When the archiver last went round.\n'
    printf '# TYPE mysql_ha_binlog_archive_round_timestamp_seconds gauge\nmysql_ha_binlog_archive_round_timestamp_seconds %s\n' \
      "$(date +%s)"
  } >"$metrics_dir/metrics.tmp" && mv "$metrics_dir/metrics.tmp" "$metrics_dir/metrics.txt"
}

stop_on_term 0 "stopping (a copy under way is abandoned: the next start copies the file again)"
log "archiving the closed binary logs of ${pod} to ${MYSQL_HA_BACKUP_TARGET}"
resumed=no
published='- 0' uploaded=''
[ -z "$metrics_dir" ] || mkdir -p "$metrics_dir"
while true; do
  touch "$heartbeat"
  if [ "$resumed" = no ]; then
    if resume; then
      resumed=yes
      if [ -n "$series" ] && [ "$(series_value "$location" "$pod/$series" cause)" = purged ]; then
        gap_since=$(series_value "$location" "$pod/$series" created)
      fi
    else
      failures=$((failures + 1))
      write_metrics
      log "${MYSQL_HA_BACKUP_TARGET} does not answer; next try in ${poll} s"
      run sleep "$poll"
      continue
    fi
  fi
  # Read before the index: the files closed by then hold every transaction before it.
  closed_at='' mark=''
  [ ! -s "$closed_at_file" ] || closed_at=$(cat "$closed_at_file")
  [ ! -s "$mark_file" ] || mark=$(cat "$mark_file")
  copied=yes
  if [ -s "$index" ]; then
    # Without a series (a first start, or a data directory that does not continue the
    # last one), one begins with the oldest file the server has. Files after the last one
    # copied that the server no longer has (purged before they were copied) end the series
    # here, whether or not a closed file follows: its archived-until never passes the gap.
    oldest_name=$(sed -n '1s|.*/||p' "$index")
    oldest=$(number "$oldest_name")
    if [ -z "$series" ]; then
      start_series "$oldest" "$oldest_name" || copied=no
    elif [ "$oldest" -gt $((last + 1)) ]; then
      previous=$series previous_last=$last previous_gtids=$archived_gtids previous_covered=$latest_covered
      start_series "$oldest" "$oldest_name" || copied=no
    fi
    closed_files | awk -v last="$last" '$1 > last' >"$work/todo"
    if [ "$copied" = yes ] && [ -s "$work/todo" ]; then
      read -r first first_name <"$work/todo"
      if [ -z "$series" ] || [ "$first" -ne $((last + 1)) ]; then
        # The series under way ends here: what follows does not continue it.
        [ -z "$series" ] || previous=$series previous_last=$last previous_gtids=$archived_gtids \
          previous_covered=$latest_covered
        start_series "$first" "$first_name" || copied=no
      fi
      cut -d' ' -f2 "$work/todo" >"$work/files"
      if [ "$copied" = yes ] \
        && run rclone copy "$datadir" "$series_path" --files-from "$work/files" --no-traverse --immutable --retries 1; then
        last_name=$(tail -n 1 "$work/files")
        last=$(number "$last_name")
        log "copied $(tr '\n' ' ' <"$work/files")to ${series}"
        # Their beginnings uploaded while they were written are superseded.
        run rclone delete "$series_path/current" --files-from "$work/files" 2>/dev/null || true
      else
        copied=no
        log "copying to ${MYSQL_HA_BACKUP_TARGET} failed; next try in ${poll} s"
      fi
    fi
    # Every transaction of the files copied: the GTID set before the file that follows
    # (with that file's header: a restart recognizes it).
    if [ "$copied" = yes ] && [ -n "$last_name" ]; then
      next=$(sed 's|.*/||' "$index" | awk -v last="$last" '{ n = $0; sub(/.*\./, "", n) } n + 0 == last + 1')
      next_header=''
      [ -z "$next" ] || next_header=$(local_header "$next")
      if [ -n "$next_header" ] && [ "$next $next_header" != "$archived_gtids" ]; then
        if publish archived-gtids "$next $next_header"; then
          archived_gtids="$next $next_header" latest_covered=${next_header##* }
        else
          copied=no
        fi
      fi
    fi
  fi
  [ ! -s "$index" ] || purge_point
  # Continuous: the first <position> bytes of the file being written hold every transaction
  # committed before the mark's time (current/<file>, replaced as it grows, deleted once
  # the file is copied whole).
  marked='' covered=''
  if [ "$copied" = yes ] && [ -n "$mark" ]; then
    mark_at=${mark%% *} rest=${mark#* }
    mark_name=${rest%% *} rest=${rest#* }
    mark_pos=${rest%% *} mark_gtids=${rest#* }
    [ "$mark_gtids" != "$rest" ] || mark_gtids=-
    mark_number=$(number "$mark_name")
    if [ -z "$series" ]; then
      :
    elif [ "$mark_number" -le "$last" ]; then
      marked=$mark_at covered=$mark_gtids
    elif [ "$mark_number" -eq $((last + 1)) ] && [ -e "$datadir/$mark_name" ] \
      && [ "$(wc -c <"$datadir/$mark_name")" -ge "$mark_pos" ]; then
      if [ "$mark_name $mark_pos" = "$uploaded" ]; then
        marked=$mark_at covered=$mark_gtids
      elif run sh -c 'head -c "$1" "$2" | rclone rcat "$3"' sh "$mark_pos" "$datadir/$mark_name" \
        "$series_path/current/$mark_name"; then
        uploaded="$mark_name $mark_pos" marked=$mark_at covered=$mark_gtids
      else
        log "uploading the first ${mark_pos} bytes of ${mark_name} failed; next try in ${poll} s"
      fi
    fi
  fi
  # archived-until: the later of the close (every closed file copied) and the mark.
  until=$closed_at
  if [ -n "$marked" ] && { [ -z "$until" ] || [ "$marked" -gt "$until" ]; }; then
    until=$marked
  fi
  [ "$copied" = yes ] || failures=$((failures + 1))
  if [ "$copied" = yes ] && [ -n "$series" ] && [ -n "$until" ] && [ "$series $until" != "$published" ]; then
    # The GTID set archived so far, the mark's when it is the later: a gap names what
    # follows it.
    if [ "$until" = "$marked" ] && [ -n "$covered" ] && [ "$covered" != - ]; then
      publish archived-gtids-marked "$covered" && latest_covered=$covered
    fi
    if publish archived-until "$until"; then
      published="$series $until"
    fi
  fi
  check_gap
  write_metrics
  run sleep "$poll"
done
