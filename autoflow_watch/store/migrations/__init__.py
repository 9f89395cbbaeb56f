"""Alembic migrations of the state store; :mod:`autoflow_watch.store.migrate` runs them."""
