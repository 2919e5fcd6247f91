"""The daemon's web side: the site dashboard, /healthz, /metrics and /status on one local endpoint."""
