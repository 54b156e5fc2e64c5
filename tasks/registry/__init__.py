"""Registry stage: MLflow Model Registry versions, aliases and the tags other stages read."""
