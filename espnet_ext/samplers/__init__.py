"""Batch samplers (A2 balanced sampling)."""
