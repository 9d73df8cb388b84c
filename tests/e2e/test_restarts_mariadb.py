"""Every scenario of ``restart_scenarios.py`` on the mariadb-11.4 chart, one cluster for the module."""

from restart_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

ENGINE = "mariadb-11.4"
