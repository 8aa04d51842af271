"""HTTP APIs of the functions: Powertools' resolver with the house rules (see ``resolver``)."""
