"""Local function runtime: runs handlers in worker processes as Lambda would, from template.yaml."""
