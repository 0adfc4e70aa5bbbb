"""Station telemetry: the Prometheus /metrics endpoint (metrics.py)."""
