"""Every scenario of ``scenarios.py`` on the mysql-8.4 chart, one cluster for the module."""

from scenarios import *  # noqa: F401,F403 - the scenarios run here, on this engine
from account_scenarios import *  # noqa: F401,F403 - then the accounts and passwords, same cluster
from failover_scenarios import *  # noqa: F401,F403 - then switchover and failover, same cluster
from rollout_scenarios import *  # noqa: F401,F403 - then a rollout, same cluster
from oom_scenarios import *  # noqa: F401,F403 - then a replica's server OOM-killed, same cluster

ENGINE = "mysql-8.4"
