"""Fault-injection tools of the reliability tests: a switchable TCP proxy, a load generator."""
