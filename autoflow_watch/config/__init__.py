"""Configuration: the TOML file, validated whole at start and on reload."""

from autoflow_watch.config.errors import ConfigError
from autoflow_watch.config.load import Config, load_config
from autoflow_watch.config.workflow import Notebook, Workflow

__all__ = ["Config", "ConfigError", "Notebook", "Workflow", "load_config"]
