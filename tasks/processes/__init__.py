"""Process groups the stages start (vLLM, the CLI's Prefect server) and their owner guard."""
