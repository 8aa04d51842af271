"""Upstream simulators: deterministic stand-ins for the third-party APIs Tributary pulls."""
