"""Schemas from the data: columns and types inferred from records (``infer``)."""
