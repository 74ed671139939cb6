"""Helpers of the SDK tests: a local HTTP server and scripts run as separate processes."""
