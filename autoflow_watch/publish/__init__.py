"""Publishing: atomic report folders, failed attempts for debugging, the outbox index."""
