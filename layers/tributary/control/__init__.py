"""Operating the pipeline: progress, rejects and source control, for the CLI and HTTP."""
