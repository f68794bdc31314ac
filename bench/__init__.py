"""Benchmarks: each prints its figures and exits 0 (not part of the test suite)."""
