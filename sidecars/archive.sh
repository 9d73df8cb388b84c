# shellcheck shell=sh
# Sourced by the scripts that read or write the binary log archive (rclone's image: busybox
# sh, awk and od). The archive of a target:
#   binlogs/<pod>/<series>/mysql-bin.NNNNNN  binary logs, never overwritten
#   binlogs/<pod>/<series>/series            where the series begins (key=value, below)
#   binlogs/<pod>/<series>/archived-gtids    "<file> <created> <server id> <GTIDs>": the file
#                                            after the last one copied, its header, and the
#                                            GTID set that precedes it: every transaction of
#                                            the files copied
#   binlogs/<pod>/<series>/archived-until    every transaction committed from the series'
#                                            start up to this time (Unix seconds) is in it
#   binlogs/<pod>/<series>/current/<file>    the beginning of the file being written, as far
#                                            as it holds every commit up to archived-until
#   binlogs/<pod>/<series>/archived-gtids-marked  the GTID set in that beginning and before
# A series is one unbroken run of one data directory's binary logs: each file continues the
# previous one. <series> is the creation time (UTC) and number of its first file, e.g.
# 20261205T081500Z-000001. A pod starts a new series when its data directory is new
# (re-seeded, restored: it numbers its files from 1 again), or when files were purged
# before they were copied (a gap); the series file says which, and what is missing:
#   pod=  first=  created=  server_id=  gtids_before=  after=  after_gtids=  cause=
#   missing_files=
# (cause: first | new-data-directory | purged). An archive of an earlier layout,
# binlogs/<pod>/mysql-bin.* with binlogs/<pod>/archived-until, reads as one series
# without a start.

# binlog_header: reads a binary log on stdin (its first 64 KiB are enough) and prints
# "created server_id gtids": when the file was created (its first event), the server id
# that wrote it, and the GTID set that precedes its first transaction (MySQL's
# Previous_gtids event, MariaDB's Gtid_list event; '-' when it has none).
binlog_header() {
  od -An -v -tu1 -N 65536 | awk '
    function le(p, count,   v, i) { v = 0; for (i = count - 1; i >= 0; i--) v = v * 256 + b[p + i]; return v }
    function hex(p, count,   s, i) { s = ""; for (i = 0; i < count; i++) s = s sprintf("%02x", b[p + i]); return s }
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END {
      if (n < 23 || b[0] != 254 || b[1] != 98 || b[2] != 105 || b[3] != 110) exit 1
      created = le(4, 4); server = le(9, 4); gtids = "-"
      pos = 4
      for (k = 0; k < 8 && pos + 19 <= n; k++) {
        type = b[pos + 4]; size = le(pos + 9, 4); body = pos + 19
        if (size < 19) break
        if (type == 35) {  # MySQL: Previous_gtids, untagged: sids, then per sid its intervals
          sids = le(body, 8)
          if (b[body + 7] != 0) { gtids = "?"; break }  # the tagged format
          p = body + 8; gtids = ""
          for (s = 0; s < sids; s++) {
            u = hex(p, 16); p += 16
            item = substr(u, 1, 8) "-" substr(u, 9, 4) "-" substr(u, 13, 4) "-" substr(u, 17, 4) "-" substr(u, 21, 12)
            intervals = le(p, 8); p += 8
            for (j = 0; j < intervals; j++) {
              first = le(p, 8); last = le(p + 8, 8) - 1; p += 16
              item = item ":" (first == last ? sprintf("%d", first) : sprintf("%d-%d", first, last))
            }
            gtids = gtids (gtids == "" ? "" : ",") item
          }
          break
        }
        if (type == 163) {  # MariaDB: Gtid_list: count, then domain, server, sequence per domain
          count = le(body, 4) % 268435456; p = body + 4; gtids = ""
          for (s = 0; s < count; s++) {
            gtids = gtids (gtids == "" ? "" : ",") sprintf("%d-%d-%d", le(p, 4), le(p + 4, 4), le(p + 8, 8))
            p += 16
          }
          break
        }
        pos += size
      }
      if (gtids == "") gtids = "-"
      printf "%d %d %s\n", created, server, gtids
    }'
}

# gtid_missing HAVE WANT: the transactions of the GTID set WANT that HAVE lacks, in the
# same notation (MySQL's uuid:1-5:7, MariaDB's domain-server-sequence, where a domain's
# range is "domain-server-first..last"); '' when none.
gtid_missing() {
  printf '%s\n%s\n' "$1" "$2" | awk '
    # MySQL: per uuid, intervals "a-b"; MariaDB: per domain, the last sequence number.
    function parse(line, which,   items, i, parts, j, k, range, ends, key) {
      gsub(/[ \t-]*$/, "", line)
      if (line == "" || line == "-") return
      k = split(line, items, ",")
      for (i = 1; i <= k; i++) {
        if (items[i] ~ /:/) {
          j = split(items[i], parts, ":"); key = parts[1]; uuids[key] = 1
          for (range = 2; range <= j; range++) {
            split(parts[range], ends, "-"); if (ends[2] == "") ends[2] = ends[1]
            count[which, key]++; lo[which, key, count[which, key]] = ends[1] + 0; hi[which, key, count[which, key]] = ends[2] + 0
          }
        } else if (split(items[i], parts, "-") == 3) {
          domains[parts[1]] = 1; server[which, parts[1]] = parts[2]; seq[which, parts[1]] = parts[3] + 0
        }
      }
    }
    # sorted(key): the intervals of HAVE for key, of key in ascending order (insertion sort).
    function sorted(key,   i, j, l, h) {
      for (i = 2; i <= count["have", key]; i++) {
        l = lo["have", key, i]; h = hi["have", key, i]
        for (j = i - 1; j >= 1 && lo["have", key, j] > l; j--) {
          lo["have", key, j + 1] = lo["have", key, j]; hi["have", key, j + 1] = hi["have", key, j]
        }
        lo["have", key, j + 1] = l; hi["have", key, j + 1] = h
      }
    }
    function emit(a, b) { item = item ":" (a == b ? sprintf("%d", a) : sprintf("%d-%d", a, b)) }
    NR == 1 { parse($0, "have") }
    NR == 2 { parse($0, "want") }
    END {
      out = ""
      for (key in uuids) {
        item = ""
        sorted(key)
        for (i = 1; i <= count["want", key]; i++) {
          cursor = lo["want", key, i]; last = hi["want", key, i]
          for (j = 1; j <= count["have", key] && cursor <= last; j++) {
            if (hi["have", key, j] < cursor) continue
            if (lo["have", key, j] > last) break
            if (lo["have", key, j] > cursor) emit(cursor, lo["have", key, j] - 1)
            cursor = hi["have", key, j] + 1
          }
          if (cursor <= last) emit(cursor, last)
        }
        if (item != "") out = out (out == "" ? "" : ",") key item
      }
      for (d in domains) {
        if (seq["want", d] > seq["have", d] + 0)
          out = out (out == "" ? "" : ",") sprintf("%d-%s-%d..%d", d, server["want", d], seq["have", d] + 1, seq["want", d])
      }
      print out
    }'
}

# archive_series LOCATION: every series of the archive that says how far it reaches, one
# line each: "path until created" (path under binlogs/; created 0 for an earlier layout's).
archive_series() {
  rclone lsf -R --files-only --include 'archived-until' "$1/binlogs" 2>/dev/null | while read -r entry; do
    path=${entry%/archived-until}
    until=$(rclone cat "$1/binlogs/$entry" 2>/dev/null | tr -d '[:space:]') || until=''
    case $until in '' | *[!0-9]*) continue ;; esac
    created=$(rclone cat "$1/binlogs/$path/series" 2>/dev/null | sed -n 's/^created=//p') || created=''
    case $created in '' | *[!0-9]*) created=0 ;; esac
    printf '%s %s %s\n' "$path" "$until" "$created"
  done
}

# series_value LOCATION PATH KEY: KEY of the series file of binlogs/PATH ('' when none).
series_value() {
  rclone cat "$1/binlogs/$2/series" 2>/dev/null | sed -n "s/^$3=//p" | head -n 1
}

# series_break LOCATION PATH: what the series binlogs/PATH follows, in words: the files
# purged before they were copied, or a new data directory, and the transactions that no
# file of this pod's archive holds between the two ('' for a first series).
series_break() {
  cause=$(series_value "$1" "$2" cause)
  missing=$(gtid_missing "$(series_value "$1" "$2" after_gtids)" "$(series_value "$1" "$2" gtids_before)")
  case $cause in
    purged) printf '%s of %s were purged before they were archived (transactions %s)' \
      "$(series_value "$1" "$2" missing_files)" "$(series_value "$1" "$2" pod)" "${missing:-unknown}" ;;
    new-data-directory) printf 'a new data directory of %s (not in its archive: transactions %s)' \
      "$(series_value "$1" "$2" pod)" "${missing:-none}" ;;
  esac
}

utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
