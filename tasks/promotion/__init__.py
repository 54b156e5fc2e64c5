"""Promotion stage: does a benchmarked candidate become `champion`? See gate.py."""
