"""Extract: pull pages from upstream APIs into the raw zone, checkpointed."""
