"""Scenarios: a small YAML format of narrated steps, a runner and player, and timelines to record and replay."""
