"""Every scenario of ``node_scenarios.py`` on the mariadb-11.4 chart with static local volumes, one
cluster for the module."""

from node_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mariadb-11.4"
