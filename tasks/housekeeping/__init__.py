"""Housekeeping stage: scheduled GPU/host sampling and log retention with backup."""
