"""Stand-alone cdk8s apps that the synth benchmark runs as subprocesses."""
