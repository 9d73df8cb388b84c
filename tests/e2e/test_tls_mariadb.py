"""The TLS scenarios of ``tls_scenarios.py`` on the mariadb-11.4 chart, one cluster for the module."""

from tls_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mariadb-11.4"
NO_TLS_FLAG = "--skip-ssl"
"""The client flag that connects without TLS."""
GTID_STATE = "@@GLOBAL.gtid_binlog_pos"
"""The server's GTID state: equal on every pod when no pod wrote on its own."""
