"""Prometheus and Alertmanager next to a sandbox (``sandbox up --monitoring``): their configuration and rules, the
supervised processes, a query client and the HTML report."""
