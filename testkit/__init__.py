"""Test doubles and fixtures' building blocks that `tests/` and `bench/` both use.

Not part of the product (not packaged): the product never imports it, and `bench/` imports
from here instead of from `tests/`.
"""
