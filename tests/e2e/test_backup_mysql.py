"""Every scenario of ``backup_scenarios.py`` (on ``backup_env.py``) on the mysql-8.4 chart: one
source cluster for the module, and a fresh cluster for each restore."""

from backup_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mysql-8.4"
