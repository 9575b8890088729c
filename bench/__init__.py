"""Benchmarks: `make bench` prints figures (rates, times, ratios); nothing here is a test."""
