"""Application wiring: settings and the `ilp` command."""
