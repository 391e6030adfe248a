"""Helpers shared by the test suites: real processes, free ports, deadline-based waiting."""
