"""Every scenario of ``restart_scenarios.py`` on the mysql-8.4 chart, one cluster for the module."""

from restart_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mysql-8.4"
