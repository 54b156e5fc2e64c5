"""OpenAI-compatible gateway (FastAPI) in front of vLLM: logs, metrics, auth, limits."""
