"""Render executed notebooks into reports: self-contained HTML, PDF, and a clean ipynb.

Called inside a run's worker process, on the executed notebooks in its work folder; what it
writes is then published by :mod:`autoflow_watch.publish`.
"""
