"""Analyses: pure functions from arrays to numbers."""
