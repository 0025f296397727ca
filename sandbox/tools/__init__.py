"""Wrappers around external programs: one module per program, all running through ``tools.run``."""
