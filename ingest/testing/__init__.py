"""Scaffolding shared by the tests and the benchmarks; nothing in the pipeline imports it."""
