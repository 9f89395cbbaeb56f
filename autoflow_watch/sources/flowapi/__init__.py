"""The flowapi source: its modules."""
