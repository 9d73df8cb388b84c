"""The mariadb-11.4 chart's restart scenarios, on a set that starts on mariadb-10.11: its first
scenario upgrades the running set to mariadb-11.4 under writes, the second sees a downgrade
refused (``upgrade_scenarios.py``), then every scenario of ``restart_scenarios.py`` runs on the
upgraded set. One cluster for the module."""

from upgrade_scenarios import (  # noqa: F401
    test_1_bring_up_three_pods,
    test_u1_upgrade_under_writes,
    test_u2_downgrade_is_refused,
)
from restart_scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine

START_ENGINE = "mariadb-10.11"
ENGINE = "mariadb-11.4"
