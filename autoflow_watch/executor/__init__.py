"""Executors run a claimed run's notebooks, in DAG order, each run in its own worker process."""
