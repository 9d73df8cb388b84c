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
    purged) log "ERROR: gap in the archive: $(series_break "$location" "$pod/$new"); series ${previous} ends, ${new} begins" ;;
    new-data-directory) log "new series ${new}: $(series_break "$location" "$pod/$new"); series ${previous} ends" ;;
    *) log "new series ${new}" ;;
  esac
  archived_gtids='' latest_covered=''
}

stop_on_term 0 "stopping (a copy under way is abandoned: the next start copies the file again)"
log "archiving the closed binary logs of ${pod} to ${MYSQL_HA_BACKUP_TARGET}"
resumed=no
published='' uploaded=''
while true; do
  touch "$heartbeat"
  if [ "$resumed" = no ]; then
    if resume; then
      resumed=yes
    else
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
  run sleep "$poll"
done
