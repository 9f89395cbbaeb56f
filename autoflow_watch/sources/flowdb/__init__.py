"""The flowdb source: its modules."""
