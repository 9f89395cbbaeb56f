"""Prometheus metrics: a registry of the daemon's own, served over HTTP or written as a textfile."""

from autoflow_watch.metrics.export import MetricsServer, TextfileWriter, write_textfile
from autoflow_watch.metrics.registry import Metrics

__all__ = ["Metrics", "MetricsServer", "TextfileWriter", "write_textfile"]
