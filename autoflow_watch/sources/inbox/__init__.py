"""The inbox source: its modules."""
