"""The TLS scenarios of ``tls_scenarios.py`` on the mysql-8.4 chart (MySQL 9.7 stands in for the
image), one cluster for the module."""

from tls_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mysql-8.4"
NO_TLS_FLAG = "--ssl-mode=DISABLED"
"""The client flag that connects without TLS."""
GTID_STATE = "@@GLOBAL.gtid_executed"
"""The server's GTID state: equal on every pod when no pod wrote on its own."""
