"""Sources as configuration: one YAML declaration per third-party API (see ``spec``)."""
