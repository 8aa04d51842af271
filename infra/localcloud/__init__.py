"""The embedded local cloud: AWS emulator, PostgreSQL, function runtime, all driven by template.yaml."""
