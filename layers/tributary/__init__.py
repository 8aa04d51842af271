"""Tributary's shared library: what every function handler imports (deployed as a Lambda layer)."""
