"""Multi-stage runs: the offline demo now; recipes, stage cache and manifests later (issue 5)."""
