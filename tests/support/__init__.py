"""Helpers shared by the test suites: factories, process runners, event replay."""
