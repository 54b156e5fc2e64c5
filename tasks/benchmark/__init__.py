"""Benchmark client: open-loop streaming load, vLLM-compatible metrics, quality, promotion gate."""
