"""``python -m benchmarks``: prints a table, then, as its last line, one JSON object.

  python -m benchmarks               full run (~20 minutes; needs root, and socat, ncat, tar, iproute2 on the host)
  python -m benchmarks --tiny        smoke run (a few minutes: both engines at once); its numbers mean nothing
  python -m benchmarks --write-docs  full run, then rewrites docs/performance.md and its plot

Progress goes to stderr; stdout holds only the table and the JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Before cdk8s is imported (by .emulated): jsii runs on the LTS Node that `npm ci` installs from
# package-lock.json, as main.py does; the synth subprocesses inherit it.
_LOCKED_NODE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "node"
if _LOCKED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_LOCKED_NODE))

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from . import backups, charts, docs, emulated, failover, machine, report, rollouts, synth  # noqa: E402
from .engines import BENCH_ENGINES  # noqa: E402


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true",
                        help="smoke run: one synth round, one small clone, few rows; checks that every "
                             "step works, its numbers are not meaningful")
    parser.add_argument("--runs", type=int, help="synth rounds, each variant once per round (default 15; tiny 1)")
    parser.add_argument("--sizes-mib", type=float, nargs="+", metavar="MIB",
                        help="table data on the donor for each clone, growing (default 128 256 512; tiny 16)")
    parser.add_argument("--repeats", type=int,
                        help="clone/floor pairs at the largest size (one at the others); the pair with "
                             "the median ratio is reported (default 3; tiny 1)")
    parser.add_argument("--catchup-rows", type=int, help="rows the replica catches up on, and the point-in-time "
                                                         "restore replays (default 200000; tiny 20000)")
    parser.add_argument("--archive-interval-seconds", type=int, metavar="S",
                        help="binlog_archive_interval_seconds of the point-in-time set (default: the library's, "
                             f"{backups.DEFAULT_ARCHIVE_SECONDS}; tiny 5)")
    parser.add_argument("--large-mib", type=float, metavar="MIB",
                        help="table data of the backup under a steady writer and its checked restore "
                             "(restore_4gib_s; default 4096; tiny 32)")
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite docs/performance.md and docs/performance-clone.png from this run")
    args = parser.parse_args(argv)
    if args.tiny and args.write_docs:
        parser.error("--write-docs takes a full run: a tiny run's numbers mean nothing")
    args.runs = args.runs or (1 if args.tiny else 15)
    args.sizes_mib = args.sizes_mib or ([16.0] if args.tiny else [128.0, 256.0, 512.0])
    args.repeats = args.repeats or (1 if args.tiny else 3)
    args.catchup_rows = args.catchup_rows or (20_000 if args.tiny else 200_000)
    args.large_mib = args.large_mib or (32.0 if args.tiny else 4096.0)
    args.archive_interval_seconds = args.archive_interval_seconds or (5 if args.tiny else backups.DEFAULT_ARCHIVE_SECONDS)
    if args.large_mib <= args.sizes_mib[-1]:
        parser.error("--large-mib must be larger than the largest of --sizes-mib: the donor's data only grows")
    if args.runs < 1 or args.repeats < 1 or args.catchup_rows < 1000 or any(s <= 0 for s in args.sizes_mib):
        parser.error("--runs and --repeats must be at least 1, --catchup-rows at least 1000, sizes positive")
    if not 5 <= args.archive_interval_seconds <= 3600:
        parser.error("--archive-interval-seconds must be between 5 and 3600, as MySQLBackup accepts")
    if sorted(args.sizes_mib) != args.sizes_mib:
        parser.error("--sizes-mib must be given in increasing order: the donor's data only grows")
    return args


def _engines(args: argparse.Namespace) -> dict[str, object]:
    """Every engine's emulated run: one after the other, so that no timing shares the machine
    with another engine's; in tiny mode, whose numbers mean nothing, all at once."""
    benches = [emulated.Bench(b, _progress) for b in BENCH_ENGINES]  # charts synthesized here: jsii is not thread-safe
    tls_benches = {b.key: emulated.Bench(b, _progress, tls=True) for b in BENCH_ENGINES}
    # Single-row writes timed on their way to the archive: spread over a minute (tiny: 10 s).
    backup_options = backups.Options(archive_seconds=args.archive_interval_seconds,
                                     rpo_writes=3 if args.tiny else 8, rpo_span_s=10.0 if args.tiny else 60.0,
                                     replay_rows=args.catchup_rows, large_mib=args.large_mib)

    def one(bench: emulated.Bench):
        return emulated.run(bench, args.sizes_mib, args.catchup_rows, repeats=args.repeats,
                            probe_transport=not args.tiny and bench.b.engine.serves_backup_streams,
                            tls_bench=tls_benches[bench.b.key], backup_options=backup_options)

    if not args.tiny:
        return {bench.b.key: one(bench) for bench in benches}
    with ThreadPoolExecutor(max_workers=len(benches)) as pool:
        futures = {bench.b.key: pool.submit(one, bench) for bench in benches}
        return {key: future.result() for key, future in futures.items()}


def _rollouts(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every engine's rollout and pod deletion: one after the other (tiny: at once)."""
    if not args.tiny:
        return {b.key: rollouts.run(b, tiny=False, progress=_progress) for b in BENCH_ENGINES}
    with ThreadPoolExecutor(max_workers=len(BENCH_ENGINES)) as pool:
        futures = {b.key: pool.submit(rollouts.run, b, tiny=True, progress=_progress) for b in BENCH_ENGINES}
        return {key: future.result() for key, future in futures.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    emulated.prerequisites()
    _progress("images of every engine's chart ...")
    images = charts.prepare_images(BENCH_ENGINES)  # built before anything is timed
    started = time.monotonic()
    facts = machine.facts(images)
    slots = (1, 27) if args.tiny else synth.SLOT_COUNTS
    _progress(f"synth: {args.runs} round(s) of main, floor and {', '.join(map(str, slots))} slot(s)")
    synth_result = synth.measure(args.runs, warmup=0 if args.tiny else 1, slots=slots, progress=_progress)
    phases = {} if args.tiny else synth.phases(runs=3)
    engines = _engines(args)
    _progress("switchover, failover and semi-sync on 3 pods")
    failover_result = failover.run(tiny=args.tiny, progress=_progress)
    _progress("rollouts and pod deletion on 3 pods, each engine")
    rollout_results = _rollouts(args)
    facts["load_average_at_end"] = round(os.getloadavg()[0], 2)
    facts["duration_s"] = round(time.monotonic() - started, 1)
    results = report.Results(mode="tiny" if args.tiny else "full", machine=facts, synth=synth_result,
                             synth_phases=phases, engines=engines, failover=failover_result,
                             rollouts=rollout_results)
    summary = results.summary()
    print(report.table(results))
    if args.write_docs:
        written = docs.write_docs(results)
        print(f"wrote {', '.join(str(p) for p in written)}")
    print(json.dumps(summary, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
