"""The embedded local cloud: AWS emulator, PostgreSQL and function runtime, from template.yaml."""
