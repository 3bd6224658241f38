"""Benchmarks (`edgekit bench`, `make bench`): print a table, write JSON. Never part of the test suite."""
