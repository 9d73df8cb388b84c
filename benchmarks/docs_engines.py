"""The per-engine sections of docs/performance.md: bring-up, clone, catch-up, and what limits each."""

from __future__ import annotations

from .floors import FLOOR_RELAYS
from .report import Results
from .results import CloneRun, EngineResult

NAMES = {"mysql": "MySQL", "mariadb": "MariaDB"}
METHODS = {
    "clone-plugin": (
        "`clone_with_plugin` in sidecars/clone.sh: the init container initializes a throwaway local server "
        "(`mysqld --initialize-insecure`), starts it (socket only), runs `CLONE INSTANCE FROM` the donor's port "
        "3306 `DATA DIRECTORY` into a staging directory, shuts the throwaway server down and renames the copy "
        "into place. Phases from the processes the benchmark saw the container run (sampled every 20 ms): "
        "the seed's `--initialize-insecure`, then the client that ran `CLONE INSTANCE`."
    ),
    "backup-stream": (
        "`clone_from_stream` in sidecars/clone.sh: the donor's sidecar streams a hot backup "
        "(`mariadb-backup --backup --stream=xbstream`, sidecars/backup-stream.sh) over port 3307 through "
        "`socat -b 1048576`; the init container extracts it with `mbstream`, checks the binary log "
        "coordinates, runs `--prepare` and renames into place. Phases from the processes the benchmark saw the "
        "container run (sampled every 20 ms): `mbstream -x`, then `--prepare`."
    ),
}


def engine_name(e: EngineResult) -> str:
    return f"{NAMES.get(e.key, e.key)} ({e.engine} chart, {e.image} run as {e.server_version})"


def _pod_rows(e: EngineResult) -> list[str]:
    rows = []
    for ordinal, marks in enumerate(e.bring_up.pods):
        def span(a: str, b: str) -> str:
            return f"{marks[b] - marks[a]:.1f}" if a in marks and b in marks else "n/a"

        marks = {**marks, "pod ready": max(marks.get("server ready", 0), marks.get("sidecar ready", 0))}
        rows.append(f"| mysql-{ordinal} | {marks.get('created', 0):.1f} | {span('created', 'init done')} | "
                    f"{span('init done', 'server answers')} | {span('server answers', 'startup probe passed')} | "
                    f"{span('startup probe passed', 'pod ready')} | {marks['pod ready']:.1f} |")
    return rows


def _spent(e: EngineResult, a: str, b: str, ordinals=(0, 1, 2)) -> float:
    return sum(max(p[b] - p[a], 0) for o, p in enumerate(e.bring_up.pods) if o in ordinals and a in p and b in p)


def _bring_up_limits(results: Results, e: EngineResult) -> str:
    shares = {
        "the primary's first start (the image's entrypoint initializes the empty data directory, with a "
        "temporary server, then starts the real one)": _spent(e, "init done", "server answers", (0,)),
        "the replicas' init containers (each a clone of a nearly empty donor)": _spent(e, "created", "init done", (1, 2)),
        "the replicas' servers starting on their copies": _spent(e, "init done", "server answers", (1, 2)),
        "waiting for the startup and readiness probes (every 2 s)":
            _spent(e, "server answers", "startup probe passed") + _spent(e, "startup probe passed", "server ready"),
    }
    largest = max(shares, key=shares.__getitem__)
    m = results.machine
    verdict = "met" if e.bring_up.seconds < 15 else "**missed**"
    text = (f"`bringup_3pods_s_{e.key}` = {e.bring_up.seconds:.1f} s: the target (< 15 s) is {verdict}. "
            "**What limits it.** The pods are created together (Parallel), but each replica's clone waits for "
            "its donor to answer, so the steps still follow one another: "
            + "; ".join(f"{name} {seconds:.1f} s" for name, seconds in shares.items())
            + f". The largest share: {largest.split(' (')[0]}.")
    if e.clone_method == "clone-plugin":
        text += (" Each replica's clone is mostly the throwaway seed server's initialization and start (see the "
                 "clone section): a fixed cost per new replica.")
    return text + (f" These are absolute seconds, not a ratio to a floor: the machine's load average was "
                   f"{m['load_average_at_start']} to {m.get('load_average_at_end')} on {m['nproc']} CPUs during "
                   "this run, and every step here waits for CPU.")


def bring_up_section(results: Results) -> list[str]:
    lines = [
        "## Bring-up", "",
        "`bringup_3pods_s` runs from `Cluster.start()` (the emulator creates the network, then the",
        "StatefulSet controller creates mysql-0) to the moment both replicas replicate a row written on the",
        "primary after `wait_ready(3)`; probes run on the manifest's timings; empty data. Per pod, in seconds",
        "(pods are created together, Parallel; a replica's clone waits for its donor). \"server answers\"",
        "is when the benchmark's own `SELECT 1`, asked every 0.2 s, first succeeded.", "",
    ]
    for e in results.engines.values():
        b = e.bring_up
        lines += [
            f"### {engine_name(e)}", "",
            f"Ready after {b.ready_seconds:.1f} s, replicating after {b.seconds:.1f} s.", "",
            "| pod | created at | init containers | to server answering | to startup probe passing | to pod ready "
            "| ready at |",
            "|---|---|---|---|---|---|---|",
            *_pod_rows(e), "",
            _bring_up_limits(results, e), "",
        ]
    return lines


def _run_rows(e: EngineResult) -> list[str]:
    names = list(e.clones[0].phases) if e.clones and e.clones[0].phases else []
    lines = [
        "| table data | data directory | clone | " + " | ".join(f"tar \\| {r}" for r in FLOOR_RELAYS)
        + " | ratio | data-copy ratio | " + " | ".join(names) + " |",
        "|---" * (5 + len(FLOOR_RELAYS) + len(names)) + "|",
    ]
    for c in e.clones:
        cells = [f"{c.phases[k]:.2f} s" if k in c.phases else "n/a" for k in names]
        copy_ratio = f"{c.copy_ratio:.2f}" if c.copy_ratio else "n/a"
        lines.append(f"| {c.data_mib:.0f} MiB | {c.donor_datadir_mib:.0f} MiB | {c.clone_s:.2f} s | "
                     + " | ".join(f"{c.floors_s[r]:.2f} s" for r in FLOOR_RELAYS)
                     + f" | {c.ratio:.2f} | {copy_ratio} | " + " | ".join(cells) + " |")
    return lines


def _break_even_mib(head: CloneRun, target: float = 0.9) -> float | None:
    """The data directory size at which the whole clone would reach ``target`` of the floor,
    if the copy phase's and the floor's rates and the fixed overhead stayed as measured."""
    if not head.copy_s or head.overhead_s is None:
        return None
    per_mib_floor, per_mib_copy = head.floor_s / head.donor_datadir_mib, head.copy_s / head.donor_datadir_mib
    denominator = per_mib_floor - target * per_mib_copy
    return target * head.overhead_s / denominator if denominator > 0 else None


def _overheads(e: EngineResult) -> str:
    """The range of everything but the data-copy phase, over every clone of every size."""
    found = [c.overhead_s for c in e.clones if c.overhead_s is not None]
    if not found:
        return "the other phases were not seen"
    return (f"everything but the data-copy phase took {min(found):.2f} to {max(found):.2f} s over the "
            f"{len(found)} clones, from {min(c.donor_datadir_mib for c in e.clones):.0f} to "
            f"{max(c.donor_datadir_mib for c in e.clones):.0f} MiB")


def _limits(results: Results, e: EngineResult) -> str:
    head = e.headline
    verdict = (f"`clone_ratio_{e.key}` = {head.ratio:.2f}: the target (≥ 0.9) is "
               + ("met. " if head.ratio >= 0.9 else "**missed**. "))
    if e.clone_method == "clone-plugin" and head.copy_s:
        ph = head.phases
        seed = ph.get("initialize seed", 0) + ph.get("start seed", 0) + ph.get("stop seed + rename + exit", 0)
        even = _break_even_mib(head)
        rate = head.donor_datadir_mib / head.copy_s
        return (verdict + "**What limits it:** the throwaway seed server, not the copy. "
                f"Of the {head.clone_s:.2f} s, initializing it took {ph.get('initialize seed', 0):.2f} s, "
                f"starting it {ph.get('start seed', 0):.2f} s, and shutting it down, renaming and exiting "
                f"{ph.get('stop seed + rename + exit', 0):.2f} s ({seed:.2f} s together; {_overheads(e)}); "
                f"`CLONE INSTANCE` itself moved the data in {head.copy_s:.2f} s, {rate:.0f} MiB/s of donor data "
                f"directory, {head.copy_ratio:.2f} times the faster floor's rate: it copies with several threads and "
                "leaves out what a new replica does not need, such as the binary logs (the copy held "
                f"{head.replica_datadir_mib:.0f} MiB once its server ran, the donor {head.donor_datadir_mib:.0f} MiB). "
                "The overhead did not grow with the data size (it moved with the machine's load), so the ratio "
                "grows with data"
                + (f": were the rates above to hold, the whole clone would reach 0.9 of the floor from about "
                   f"{even / 1024:.1f} GiB of data directory on." if even else ".")
                + " Lowering it would mean not initializing a server per clone (the clone runs in an init "
                "container, before the pod's own server exists).")
    stream = head.phases.get("stream + extract")
    text = verdict + "**What limits it:** the stream"
    if stream:
        text += (f", {stream / head.clone_s * 100:.0f} % of the clone ({stream:.2f} s of {head.clone_s:.2f} s); "
                 f"prepare took {head.phases.get('prepare', 0):.2f} s on a quiet donor; {_overheads(e)}")
    transport = results.transport_mib_s
    if e.backup_alone and transport and stream:
        mib, seconds = e.backup_alone
        relay = "socat -b 1048576"
        text += (f". The stream carried about {mib:.0f} MiB of backup (backup-stream.sh run alone on the donor into a "
                 f"pipe produced {mib:.0f} MiB in {seconds:.2f} s, {mib / seconds:.0f} MiB/s), {mib / stream:.0f} MiB/s "
                 f"while streaming, and `{relay}` alone carries {transport.get(relay, 0):.0f} MiB/s between the two "
                 "namespaces")
        if min(mib / seconds, transport.get(relay, 0)) > 1.2 * mib / stream:
            text += (": each part alone is faster than the chain. The chain (the backup reading the tablespaces, "
                     "a relay at each end, `mbstream` writing the files) runs four busy processes on "
                     f"{results.machine['nproc']} CPUs that the machine's other load shares (load average "
                     f"{results.machine['load_average_at_start']} to {results.machine.get('load_average_at_end')}), "
                     "so CPU time, not any one tool, is the likely limit here, and the spread of the ratios at the "
                     "largest size is that noise")
        else:
            text += ": the slower of the two is about what the chain achieves, so it is the limit"
    return text + ". The floors copy every file; the backup leaves out the redo log and the temporary tablespace."


def _donor_note(e: EngineResult) -> str:
    """Where the donor's data directory changed size between clones of the same table data."""
    sizes = [c.donor_datadir_mib for c in e.headline_runs]
    if max(sizes) < 1.1 * min(sizes):
        return ""
    return (f" The donor's data directory held {max(sizes):.0f} MiB at one of these clones and {min(sizes):.0f} MiB "
            "at another, for the same table data (files the bulk load left were gone by the later clone): the "
            "floors copy every file there is, a clone only what a replica needs, so the run on the larger "
            "directory favours the clone.")


def clone_section(results: Results) -> list[str]:
    lines = [
        "## Clone against the copy floors", "",
        "![clone time against data size beside the copy floors, per engine](performance-clone.png)", "",
        "Lines join the medians per size, dots mark every run. The donor is the primary, mysql-0, holding the",
        "tables `bench.data_1..4` (~1 KiB rows, grown between sizes); mysql-1 starts with no claim, so it clones.",
        "The clone is the `clone-mysql` init container's duration as the pod pays it (the emulator's events:",
        "container start to successful exit). Straight after each clone, both floors: `tar -cf - . | ncat` and",
        "`tar -cf - . | socat -b 1048576` of the donor's data directory from mysql-0's network namespace into",
        "`tar -xf -` in mysql-1's, on the same file system. Before each of the three, written data is synced",
        "and the donor's files read once, so all read from the page cache and none pays another's writeback;",
        "before each clone the binary logs are purged and the donor's dirty pages flushed (a quiet donor).", "",
        "`clone_ratio` = the faster floor's time / the whole clone container's time (both divide the same data",
        "directory size, so it is also the ratio of the MiB/s figures): what a new replica pays against",
        "copying its data. The data-copy ratio holds the floor against the phase that moves the data alone;",
        "it is reported beside, not in place of, `clone_ratio`. The headline of each engine is the",
        "median-ratio run at the largest size.", "",
    ]
    for e in results.engines.values():
        ratios = ", ".join(f"{c.ratio:.2f}" for c in e.headline_runs)
        lines += [f"### {engine_name(e)}", "", METHODS[e.clone_method], "", *_run_rows(e), "",
                  f"Ratios at the largest size: {ratios}.{_donor_note(e)}", "", _limits(results, e), ""]
    transport = results.transport_mib_s
    if transport:
        lines += ["The relays alone (512 MiB of zeros between the same two namespaces, no disk, no database):", "",
                  "| relay | MiB/s |", "|---|---|", *[f"| {k} | {v:.0f} |" for k, v in transport.items()], "",
                  "ncat and socat's default 8 KiB blocks are far slower than `socat -b 1048576`, the block size the",
                  "MariaDB chart's relay (`serve_streams`/`receive_stream` in sidecars/common.sh) uses on both ends.",
                  ""]
    return lines


def catch_up_section(results: Results) -> list[str]:
    lines = ["## Catch-up after a restart", "",
             "mysql-1 is stopped (its claim stays), rows are written on the primary in transactions of 100 rows",
             "(`INSERT ... VALUES`), and mysql-1 is started again. The benchmark asks mysql-1 for `MAX(id)` every",
             "0.1 s; `catchup_rows_s` is the rows applied between the last answer that still showed the old state",
             "and the first that showed every row, divided by the time between them.", ""]
    for e in results.engines.values():
        k = e.catch_up
        ms = k.seconds / max(k.applied_rows / (k.rows / k.transactions), 1) * 1000
        fmt = ("with the ROW format each transaction travels as its rows' images"
               if k.binlog_format.upper() == "ROW" else
               f"with the {k.binlog_format} format these inserts travel as statements, parsed and executed again")
        lines += [
            f"**{NAMES.get(e.key, e.key)}.** {k.rows:,} rows in {k.transactions:,} transactions, {k.binlog_format} "
            f"binary log: {k.applied_rows:,} rows applied in {k.seconds:.2f} s, {k.rows_s:,.0f} rows/s; from the pod's "
            f"re-creation to holding every row {k.restart_to_caught_up_s:.2f} s. What limits it: the applier, "
            + ", ".join(f"`{n}={v}`" for n, v in k.replica_settings.items())
            + f", about {ms:.1f} ms per transaction of {k.rows // k.transactions} rows, each committed durably; {fmt}.",
            "",
        ]
    return lines
