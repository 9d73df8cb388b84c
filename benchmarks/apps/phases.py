"""Where ``python main.py``'s time goes: prints one JSON object of phase -> seconds.

Same work as main.py (the default chart from an existing Secret), timed in-process;
the interpreter's own start-up is what the caller measures around it.
"""

import json
import time

started = time.perf_counter()
marks = {}


def mark(name: str) -> None:
    marks[name] = time.perf_counter()


import cdk8s  # noqa: E402  - the imports are what is being timed

mark("import cdk8s (starts jsii's node runtime)")
import cdk8s_plus_27  # noqa: E402,F401

mark("import cdk8s-plus-27")
from mysql_ha import MySQLCredentials, MySQLHAChart  # noqa: E402

mark("import mysql_ha")
app = cdk8s.App()
MySQLHAChart(app, "mysql-ha", credentials=MySQLCredentials.from_existing_secret("mysql-credentials"))
mark("construct the chart")
app.synth()
mark("synth (resolve, YAML, write)")

previous, phases = started, {}
for name, at in marks.items():
    phases[name] = at - previous
    previous = at
print(json.dumps(phases))
