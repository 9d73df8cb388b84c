"""The framework floor: an app that imports cdk8s-plus-27 and synthesizes one empty chart.

Run as a script, like ``python main.py``; writes to ``$CDK8S_OUTDIR``.
"""

import cdk8s
import cdk8s_plus_27  # noqa: F401  - its import cost is part of the floor, as in main.py

app = cdk8s.App()
cdk8s.Chart(app, "empty")
app.synth()
