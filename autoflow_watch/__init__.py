"""autoflow-watch: data-triggered notebook report pipelines."""

__version__ = "0.1.0"
