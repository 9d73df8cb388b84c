"""Every scenario of ``node_scenarios.py`` on the mysql-8.4 chart with static local volumes, one
cluster for the module."""

from node_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mysql-8.4"
