"""Fault scenarios: the service keeps every job through crashes and outages of its parts."""
