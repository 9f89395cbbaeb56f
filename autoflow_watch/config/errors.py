"""One error type for everything wrong with a config, each problem on its own line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class ConfigError(Exception):
    """A config that must not be run; ``problems`` are lines ``file: key.path: what is wrong``."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def problem(file: Path, key_path: str, message: str) -> str:
    """Format one problem line the way every config error is shown."""
    where = f"{key_path}: " if key_path else ""
    return f"{file}: {where}{message}"
