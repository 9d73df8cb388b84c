"""The engines the benchmark runs, as data: what differs between them for the benchmark alone
(the product's own differences live in ``mysql_ha/engines.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mysql_ha import MARIADB_11_4, MYSQL_8_4, Engine


@dataclass(frozen=True, kw_only=True)
class BenchEngine:
    key: str
    """Suffix of this engine's keys in the JSON line (``clone_ratio_<key>``)."""
    engine: Engine
    prefix: str
    """The emulator's network prefix: namespaces ``<prefix>-*``, veths ``v<prefix><ordinal>``.
    Distinct from the e2e scenarios' (``mh<engine>``), so both can run at once. The clusters
    beside the main one add a letter: ``t`` (TLS on), ``r`` (restored from a backup), ``p``
    (binary logs archived), ``q`` (restored to a point in time), ``o`` (rollouts) and ``l``
    (restored from the large backup)."""
    copy_phase: str
    """The phase of the clone init container that moves the data (see ``samplers.clone_phases``)."""
    applier_settings: tuple[str, ...]
    """Server variables that bound how fast a replica applies what it missed."""


E2E_PREFIX = os.environ.get("MYSQL_HA_E2E_PREFIX", "mh")[:2]
"""Two letters that start every network name of a run (``MYSQL_HA_E2E_PREFIX``, as for the e2e
scenarios): runs from two checkouts on one machine set it apart."""

BENCH_ENGINES: tuple[BenchEngine, ...] = (
    BenchEngine(
        key="mysql",
        engine=MYSQL_8_4,
        prefix=f"{E2E_PREFIX}bmy",
        copy_phase="CLONE INSTANCE",
        applier_settings=("replica_parallel_workers", "replica_preserve_commit_order", "innodb_flush_log_at_trx_commit",
                          "sync_binlog", "log_replica_updates", "binlog_format"),
    ),
    BenchEngine(
        key="mariadb",
        engine=MARIADB_11_4,
        prefix=f"{E2E_PREFIX}bma",
        copy_phase="stream + extract",
        applier_settings=("slave_parallel_threads", "innodb_flush_log_at_trx_commit", "sync_binlog",
                          "log_slave_updates", "binlog_format"),
    ),
)
DEFAULT_KEY = "mysql"
"""The engine whose figures the unsuffixed keys (``clone_ratio``, ...) carry: the product's default,
MySQL 8.4, the engine of ``python main.py``."""
PREFIXES = tuple(b.prefix for b in BENCH_ENGINES)
