"""The Hallow content app (SPEC 4.2): the push side, which POSTs events to the webhook."""
